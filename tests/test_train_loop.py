"""train_and_evaluate end to end: metrics files, resuming, errors."""

import json
import os
import signal

import jax
import numpy as np
import pytest

from mtl_jax import checkpoint
from mtl_jax import train
from mtl_jax.data import pipeline


def read_jsonl(path):
  with open(path) as f:
    return [json.loads(line) for line in f]


def read_json(path):
  with open(path) as f:
    return json.load(f)


def final_state(workdir):
  ckpt = checkpoint.Checkpointer(os.path.join(workdir, "checkpoints"))
  try:
    return ckpt.latest_step(), ckpt.restore(None)[0]
  finally:
    ckpt.close()


def test_tiny_run_writes_metrics_and_checkpoints(tiny_config, tmp_path):
  tiny_config.eval.at_start = True
  stl = {"segmentation/miou": 50.0, "depth/abs_err": 2.0}
  (tmp_path / "stl.json").write_text(json.dumps(stl))
  tiny_config.eval.single_task_baselines = str(tmp_path / "stl.json")
  workdir = tmp_path / "run"
  results = train.train_and_evaluate(tiny_config, str(workdir))
  rows = read_jsonl(workdir / "metrics.jsonl")
  assert [r["step"] for r in rows] == [0, 3, 6]
  for key in ("segmentation/miou", "segmentation/pixel_acc", "depth/abs_err", "depth/rel_err",
              "normals/mean_angle", "normals/median_angle", "normals/within_11.25"):
    assert key in rows[-1] and np.isfinite(rows[-1][key])
  for row in rows:  # Δm against the given single-task results, by hand.
    want = 100 * ((row["segmentation/miou"] - 50) / 50 - (row["depth/abs_err"] - 2) / 2) / 2
    assert row["delta_m"] == pytest.approx(want, rel=1e-9)
  assert rows[-1] == {"step": 6, **results}
  final = read_json(workdir / "final.json")
  assert final["last"] == rows[-1] and final["single_task_baselines"] == stl
  assert final["mean"]["steps"] == [3, 6]  # The untrained network (step 0) is left out.
  for key in ("normals/median_angle", "depth/rel_err", "delta_m"):
    assert final["mean"][key] == pytest.approx((rows[1][key] + rows[2][key]) / 2, rel=1e-9)
  assert os.listdir(workdir / "tensorboard")
  step, _ = final_state(str(workdir))
  assert step == 6


class _Interrupt:
  """Wraps the training iterator; at batch ``at`` it raises or sends SIGTERM."""

  def __init__(self, iterator, at, how):
    self.iterator, self.at, self.how, self.count = iterator, at, how, 0

  def __iter__(self):
    return self

  def __next__(self):
    self.count += 1
    if self.count == self.at:
      if self.how == "crash":
        raise RuntimeError("simulated crash")
      os.kill(os.getpid(), signal.SIGTERM)
    return next(self.iterator)

  def get_state(self):
    return self.iterator.get_state()

  def set_state(self, state):
    self.iterator.set_state(state)


@pytest.mark.parametrize("how,error", [("crash", RuntimeError), ("sigterm", KeyboardInterrupt)])
def test_interrupted_then_resumed_run_is_bit_identical(tiny_config, tmp_path, monkeypatch, how,
                                                       error):
  tiny_config.schedule.num_steps = 7
  full_dir, resumed_dir = str(tmp_path / "full"), str(tmp_path / "resumed")
  full = train.train_and_evaluate(tiny_config, full_dir)

  original = pipeline.train_iterator
  monkeypatch.setattr(pipeline, "train_iterator",
                      lambda *a, **k: _Interrupt(original(*a, **k), at=4, how=how))
  with pytest.raises(error):
    train.train_and_evaluate(tiny_config, resumed_dir)
  monkeypatch.setattr(pipeline, "train_iterator", original)
  # A crash at batch 4 leaves the step-2 checkpoint; SIGTERM saves step 4 first.
  assert final_state(resumed_dir)[0] == (2 if how == "crash" else 4)
  resumed = train.train_and_evaluate(tiny_config, resumed_dir)

  assert resumed == full
  assert read_jsonl(os.path.join(resumed_dir, "metrics.jsonl")) == read_jsonl(
      os.path.join(full_dir, "metrics.jsonl"))
  # The reported summary (last evaluation, mean of the last ones) survives resuming.
  assert read_json(os.path.join(resumed_dir, "final.json")) == read_json(
      os.path.join(full_dir, "final.json"))
  (full_step, full_tree), (resumed_step, resumed_tree) = final_state(full_dir), final_state(
      resumed_dir)
  assert full_step == resumed_step == 7
  jax.tree_util.tree_map(np.testing.assert_array_equal, resumed_tree, full_tree)


def test_rerun_of_a_finished_run_changes_nothing(tiny_config, tmp_path):
  first = train.train_and_evaluate(tiny_config, str(tmp_path))
  rows = read_jsonl(tmp_path / "metrics.jsonl")
  assert train.train_and_evaluate(tiny_config, str(tmp_path)) == first
  assert read_jsonl(tmp_path / "metrics.jsonl") == rows and rows[-1]["step"] == 6


def test_non_finite_loss_stops_with_a_clear_error(tiny_config, tmp_path):
  tiny_config.optimizer.learning_rate = 1e12
  tiny_config.schedule.num_steps = 8
  with pytest.raises(FloatingPointError, match=r"non-finite training values at step \d+"):
    train.train_and_evaluate(tiny_config, str(tmp_path))
