"""The run records its resolved config; restore needs only the workdir; resumes must match."""

import json

import jax
import numpy as np
import pytest

from mtl_jax import checkpoint
from mtl_jax import run_record
from mtl_jax import schema
from mtl_jax import train


def test_workdir_records_the_resolved_config_and_restores_from_it(tiny_config, tmp_path):
  tiny_config.schedule.num_epochs = 1.0  # 32 examples in batches of 8: 4 steps.
  workdir = str(tmp_path / "run")
  train.train_and_evaluate(tiny_config, workdir)
  with open(tmp_path / "run" / "config.json") as f:
    recorded = json.load(f)
  assert recorded["schedule"]["num_steps"] == 4 and recorded["schedule"]["num_epochs"] == 1.0
  assert recorded["model"]["kwargs"]["widths"] == [4, 8]
  assert run_record.load(workdir).model.kwargs.widths == (4, 8)  # Tuples again.

  tasks, model, state = train.restore(workdir)  # No config needed.
  assert [t.name for t in tasks] == list(tiny_config.tasks.names)
  ckpt = checkpoint.Checkpointer(f"{workdir}/checkpoints")
  try:
    raw, _ = ckpt.restore(None)
  finally:
    ckpt.close()
  assert int(state.step) == 4
  jax.tree_util.tree_map(np.testing.assert_array_equal, state.params, raw["params"])
  images = np.zeros((2, 16, 24, 3), np.float32)
  preds = model.apply({"params": state.params, "batch_stats": state.batch_stats}, images,
                      train=False)
  assert preds["segmentation"].shape == (2, 16, 24, 7)


def test_a_mismatched_resume_names_the_keys(tiny_config, tmp_path):
  workdir = str(tmp_path)
  tiny_config.schedule.num_steps = 2
  train.train_and_evaluate(tiny_config, workdir)
  changed = tiny_config.copy_and_resolve_references()
  changed.model.kwargs.widths = (4, 4)
  changed.optimizer.learning_rate = 0.01
  with pytest.raises(schema.ConfigError) as raised:
    train.train_and_evaluate(changed, workdir)
  message = str(raised.value)
  assert message.startswith(f"config.model.kwargs.widths: resuming {workdir} with a config that"
                            " differs from the one recorded in")
  assert "2 key(s): model.kwargs.widths: [4, 8] recorded, [4, 4] now;" in message
  assert "optimizer.learning_rate: 0.001 recorded, 0.01 now" in message
  assert "--config.checkpoint.allow_changes=model.kwargs.widths,optimizer.learning_rate" in message
  assert run_record.load(workdir).model.kwargs.widths == (4, 8)  # The record is untouched.


def test_a_longer_run_and_allowed_changes_resume(tiny_config, tmp_path):
  workdir = str(tmp_path)
  tiny_config.schedule.num_steps = 2
  train.train_and_evaluate(tiny_config, workdir)
  longer = tiny_config.copy_and_resolve_references()
  longer.schedule.num_steps = 4  # Run length may change.
  longer.optimizer.learning_rate = 0.0005
  longer.checkpoint.allow_changes = "optimizer.learning_rate"
  train.train_and_evaluate(longer, workdir)
  recorded = run_record.load(workdir)
  assert recorded.schedule.num_steps == 4 and recorded.optimizer.learning_rate == 0.0005


def test_differences_ignore_the_run_length_and_follow_prefixes():
  old = {"schedule": {"num_steps": 5, "decay": "cosine"}, "model": {"kwargs": {"widths": [4]}}}
  new = {"schedule": {"num_steps": 9, "decay": "step"}, "model": {"kwargs": {"widths": [8]}}}
  assert run_record.differences(old, new) == ["model.kwargs.widths", "schedule.decay"]
  assert run_record.differences(old, new, allowed=("model",)) == ["schedule.decay"]
  assert run_record.differences(old, {**new, "extra": 1}, allowed=("model", "schedule")) == [
      "extra"]
