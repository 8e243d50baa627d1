"""train_and_evaluate end to end: metrics files, resuming, errors."""

import json
import os
import re
import shutil
import signal

import jax
import numpy as np
import pytest

from mtl_jax import checkpoint
from mtl_jax import preemption
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
  # Each class's IoU, named; their mean over the classes present is the mIoU.
  names = ("floor", "wall", "ceiling", "sphere", "box", "cylinder", "cone")
  ious = [rows[-1][f"segmentation/iou/{n}"] for n in names]
  present = [v for v in ious if v is not None]
  assert present and rows[-1]["segmentation/miou"] == pytest.approx(np.mean(present), rel=1e-5)
  training = read_jsonl(workdir / "train.jsonl")
  assert [r["step"] for r in training] == [2, 4, 6]  # schedule.log_every = 2.
  for row in training:
    assert {"loss/segmentation", "weight/depth", "learning_rate", "images_per_second"} <= set(row)


def test_training_log_holds_means_since_the_last_line_and_the_panel(tiny_config, tmp_path,
                                                                    capsys):
  tiny_config.schedule.num_steps = 4
  tiny_config.schedule.log_every = 1
  train.train_and_evaluate(tiny_config, str(tmp_path / "every"))
  every = read_jsonl(tmp_path / "every" / "train.jsonl")
  tiny_config.schedule.log_every = 2
  tiny_config.eval.num_images = 2
  capsys.readouterr()
  train.train_and_evaluate(tiny_config, str(tmp_path / "pairs"))
  pairs = read_jsonl(tmp_path / "pairs" / "train.jsonl")
  assert [r["step"] for r in every] == [1, 2, 3, 4] and [r["step"] for r in pairs] == [2, 4]
  for i, row in enumerate(pairs):
    for key in ("loss/segmentation", "loss/depth", "loss/normals"):
      want = (every[2 * i][key] + every[2 * i + 1][key]) / 2
      assert row[key] == pytest.approx(want, rel=1e-6), key
    assert row["learning_rate"] == every[2 * i + 1]["learning_rate"]
  out = capsys.readouterr().out
  assert "shared_encoder" in out and "total" in out  # The parameter table.
  assert "step 1: compiling the train step..." in out
  assert f"done at step 4; results: {tmp_path / 'pairs' / 'final.json'}" in out
  panel = tmp_path / "pairs" / "predictions.png"
  assert f"predictions: {panel}" in out and panel.stat().st_size > 0
  assert not (tmp_path / "every" / "predictions.png").exists()  # eval.num_images = 0.


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

  def close(self):
    self.iterator.close()


@pytest.mark.parametrize("how,error", [("crash", RuntimeError), ("sigterm", KeyboardInterrupt)])
def test_interrupted_then_resumed_run_is_bit_identical(tiny_config, tmp_path, monkeypatch, how,
                                                       error):
  tiny_config.schedule.num_steps = 7
  full_dir, resumed_dir = str(tmp_path / "full"), str(tmp_path / "resumed")
  full = train.train_and_evaluate(tiny_config, full_dir)

  original = pipeline.train_iterator
  monkeypatch.setattr(pipeline, "train_iterator",
                      lambda *a, **k: _Interrupt(original(*a, **k), at=4, how=how))
  with pytest.raises(error) as raised:
    train.train_and_evaluate(tiny_config, resumed_dir)
  if how == "sigterm":  # main.py exits with 128 + 15, the shells' convention.
    assert isinstance(raised.value, preemption.Stopped), raised.value
    assert (raised.value.step, raised.value.exit_status) == (4, 143)
    assert "stopped by SIGTERM at step 4; checkpoint saved" in str(raised.value)
  assert not os.path.exists(os.path.join(resumed_dir, "run.lock"))  # Released however it ends.
  monkeypatch.setattr(pipeline, "train_iterator", original)
  # A crash at batch 4 leaves the step-2 checkpoint; SIGTERM saves step 4 first.
  assert final_state(resumed_dir)[0] == (2 if how == "crash" else 4)
  resumed = train.train_and_evaluate(tiny_config, resumed_dir)

  assert resumed == full
  assert read_jsonl(os.path.join(resumed_dir, "metrics.jsonl")) == read_jsonl(
      os.path.join(full_dir, "metrics.jsonl"))
  no_rate = lambda rows: [{k: v for k, v in r.items() if k != "images_per_second"} for r in rows]
  assert no_rate(read_jsonl(os.path.join(resumed_dir, "train.jsonl"))) == no_rate(
      read_jsonl(os.path.join(full_dir, "train.jsonl")))
  # The reported summary (last evaluation, mean of the last ones) survives resuming.
  assert read_json(os.path.join(resumed_dir, "final.json")) == read_json(
      os.path.join(full_dir, "final.json"))
  (full_step, full_tree), (resumed_step, resumed_tree) = final_state(full_dir), final_state(
      resumed_dir)
  assert full_step == resumed_step == 7
  jax.tree_util.tree_map(np.testing.assert_array_equal, resumed_tree, full_tree)


def test_a_damaged_newest_checkpoint_falls_back_and_the_run_ends_identical(tiny_config, tmp_path,
                                                                           monkeypatch):
  """Checkpoints 2 and 4 on disk, 4 damaged four ways: each rerun moves 4 aside, resumes from 2
  and ends bit-identical to an uninterrupted run."""
  from tests import test_checkpoint as damage_lib  # pylint: disable=g-import-not-at-top
  full_dir, crashed_dir = str(tmp_path / "full"), str(tmp_path / "crashed")
  train.train_and_evaluate(tiny_config, full_dir)
  original = pipeline.train_iterator
  monkeypatch.setattr(pipeline, "train_iterator",
                      lambda *a, **k: _Interrupt(original(*a, **k), at=5, how="crash"))
  with pytest.raises(RuntimeError):
    train.train_and_evaluate(tiny_config, crashed_dir)
  monkeypatch.setattr(pipeline, "train_iterator", original)
  assert sorted(os.listdir(os.path.join(crashed_dir, "checkpoints"))) == ["2", "4"]
  full_step, full_tree = final_state(full_dir)
  for name in ("truncated data file", "deleted data file", "emptied manifest",
               "eight bytes flipped"):
    workdir = str(tmp_path / name.replace(" ", "_"))
    shutil.copytree(crashed_dir, workdir)
    damage_lib.DAMAGE[name](os.path.join(workdir, "checkpoints", "4"))
    train.train_and_evaluate(tiny_config, workdir)
    assert os.path.isdir(os.path.join(workdir, "checkpoints_damaged", "4")), name
    assert read_jsonl(os.path.join(workdir, "metrics.jsonl")) == read_jsonl(
        os.path.join(full_dir, "metrics.jsonl")), name
    assert read_json(os.path.join(workdir, "final.json")) == read_json(
        os.path.join(full_dir, "final.json")), name
    step, tree = final_state(workdir)
    assert step == full_step == 6, name
    jax.tree_util.tree_map(np.testing.assert_array_equal, tree, full_tree)


def test_rerun_of_a_finished_run_changes_nothing(tiny_config, tmp_path, monkeypatch):
  first = train.train_and_evaluate(tiny_config, str(tmp_path))
  rows = read_jsonl(tmp_path / "metrics.jsonl")
  warnings = []
  monkeypatch.setattr(train.logging, "warning", lambda msg, *a: warnings.append(msg % a))
  monkeypatch.setattr(train.train_state_lib, "create", None)  # Nothing is built or compiled.
  assert train.train_and_evaluate(tiny_config, str(tmp_path)) == first
  assert [w for w in warnings if "complete" in w] == [f"{tmp_path}: the run is complete (step 6 of 6); its results are in"
                      f" {tmp_path}/final.json"]
  assert read_jsonl(tmp_path / "metrics.jsonl") == rows and rows[-1]["step"] == 6


def test_non_finite_loss_stops_with_a_clear_error(tiny_config, tmp_path):
  tiny_config.optimizer.learning_rate = 1e12
  tiny_config.schedule.num_steps = 8
  with pytest.raises(FloatingPointError, match=r"non-finite training (values|state) at step \d+"):
    train.train_and_evaluate(tiny_config, str(tmp_path))


def test_a_non_finite_stop_leaves_a_good_checkpoint_and_a_rerun_finishes(tiny_config, tmp_path):
  """A divergence after step 2 writes no checkpoint from a non-finite state; the message names
  the checkpoint to resume from, and a rerun with a sane learning rate finishes."""
  workdir = str(tmp_path)
  tiny_config.schedule.num_steps, tiny_config.schedule.checkpoint_every = 2, 2
  train.train_and_evaluate(tiny_config, workdir)
  diverging = tiny_config.copy_and_resolve_references()
  diverging.schedule.num_steps = 6
  diverging.optimizer.learning_rate = 1e12
  diverging.checkpoint.allow_changes = "optimizer.learning_rate"
  with pytest.raises(FloatingPointError) as raised:
    train.train_and_evaluate(diverging, workdir)
  message = str(raised.value)
  assert re.search(r"non-finite training (values|state) at step [34]", message), message
  assert f"resumes from the checkpoint of step 2 (verified) in {workdir}/checkpoints" in message
  assert "--config.checkpoint.allow_changes=optimizer.learning_rate" in message
  step, tree = final_state(workdir)
  assert step == 2 and all(np.all(np.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)
                           if np.issubdtype(np.asarray(x).dtype, np.floating))
  sane = diverging.copy_and_resolve_references()
  sane.optimizer.learning_rate = 1e-3
  results = train.train_and_evaluate(sane, workdir)
  assert final_state(workdir)[0] == 6 and np.isfinite(results["segmentation/miou"])


class _Corrupt:
  """Wraps the training iterator; the batches numbered in ``at`` get an example whose depths
  (3e38 everywhere, finite and valid) make the depth loss overflow to inf."""

  def __init__(self, iterator, at):
    self.iterator, self.at, self.count = iterator, set(at), 0

  def __iter__(self):
    return self

  def __next__(self):
    batch = next(self.iterator)
    self.count += 1
    if self.count in self.at:
      batch = dict(batch, depth=np.array(batch["depth"]))
      batch["depth"][0] = 3e38
    return batch

  def get_state(self):
    return self.iterator.get_state()

  def set_state(self, state):
    self.iterator.set_state(state)

  def close(self):
    self.iterator.close()


@pytest.mark.parametrize("mode", ["pmap", "shard_map"])
def test_skip_nonfinite_keeps_the_whole_state_at_a_bad_step(tiny_config, tmp_path, monkeypatch,
                                                             mode):
  workdir = str(tmp_path)
  tiny_config.parallel.mode = mode
  tiny_config.optimizer.skip_nonfinite = True
  tiny_config.schedule.num_steps, tiny_config.schedule.checkpoint_every = 4, 1
  tiny_config.checkpoint.max_to_keep = 5
  original = pipeline.train_iterator
  monkeypatch.setattr(pipeline, "train_iterator", lambda *a, **k: _Corrupt(original(*a, **k), {3}))
  results = train.train_and_evaluate(tiny_config, workdir)
  assert np.isfinite(results["depth/abs_err"])
  states = {step: train.restore(workdir, step)[2] for step in (2, 3, 4)}
  for step, state in states.items():
    assert int(state.step) == step
  same = lambda a, b: jax.tree_util.tree_map(np.testing.assert_array_equal, a, b)
  for field in ("params", "batch_stats", "opt_state", "balancer_state"):
    same(getattr(states[3], field), getattr(states[2], field))  # Step 3 was skipped...
  with pytest.raises(AssertionError):
    same(states[4].params, states[3].params)  # ...step 4 was not.


def test_skip_nonfinite_stops_after_too_many_bad_steps_in_a_row(tiny_config, tmp_path,
                                                                monkeypatch):
  tiny_config.optimizer.skip_nonfinite = True
  tiny_config.schedule.num_steps = train.MAX_SKIPS_IN_A_ROW + 4
  bad = range(2, train.MAX_SKIPS_IN_A_ROW + 3)  # One more than allowed, from step 2.
  original = pipeline.train_iterator
  monkeypatch.setattr(pipeline, "train_iterator", lambda *a, **k: _Corrupt(original(*a, **k), bad))
  with pytest.raises(FloatingPointError,
                     match=rf"{train.MAX_SKIPS_IN_A_ROW + 1} steps in a row up to step"
                     rf" {bad[-1]} had non-finite"):
    train.train_and_evaluate(tiny_config, str(tmp_path))


def test_without_skip_nonfinite_a_bad_batch_stops_the_run_at_its_step(tiny_config, tmp_path,
                                                                      monkeypatch):
  original = pipeline.train_iterator
  monkeypatch.setattr(pipeline, "train_iterator", lambda *a, **k: _Corrupt(original(*a, **k), {3}))
  with pytest.raises(FloatingPointError, match=r"at step 3: \{'loss/depth': inf"):
    train.train_and_evaluate(tiny_config, str(tmp_path))
