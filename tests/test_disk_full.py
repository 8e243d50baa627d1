"""A full disk stops the run in one line, leaves the previous checkpoint verified and no
half-written file; a rerun with space resumes and ends as an uninterrupted run."""

import errno
import io
import json
import os
import subprocess
import sys

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from mtl_jax import checkpoint
from mtl_jax import summary
from mtl_jax import train
from tests.test_train_loop import final_state, read_json, read_jsonl

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _enospc(path):
  return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)


def test_a_checkpoint_write_that_fails_keeps_the_previous_one_and_a_rerun_ends_identical(
    tiny_config, tmp_path, monkeypatch):
  full_dir, workdir = str(tmp_path / "full"), str(tmp_path / "full_disk")
  train.train_and_evaluate(tiny_config, full_dir)
  original = ocp.CheckpointManager.save

  def save(self, step, *args, **kwargs):
    if step == 4:  # Half written, then the disk is full.
      tmp = os.path.join(str(self.directory), "4.orbax-checkpoint-tmp", "state")
      os.makedirs(tmp)
      open(os.path.join(tmp, "d"), "wb").write(b"\0" * 100)
      raise _enospc(os.path.join(tmp, "d"))
    return original(self, step, *args, **kwargs)

  monkeypatch.setattr(ocp.CheckpointManager, "save", save)
  with pytest.raises(checkpoint.CheckpointError) as raised:
    train.train_and_evaluate(tiny_config, workdir)
  message = str(raised.value)
  assert message.startswith("could not write checkpoint 4 (") and "No space left on device" in (
      message) and "4.orbax-checkpoint-tmp/state/d" in message, message
  assert message.endswith("MiB free); checkpoint 2 is intact (verified)"), message
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["2"]  # No half checkpoint.
  assert not [f for f in os.listdir(workdir) if f.endswith(".tmp")]

  monkeypatch.setattr(ocp.CheckpointManager, "save", original)
  train.train_and_evaluate(tiny_config, workdir)
  assert read_jsonl(os.path.join(workdir, "metrics.jsonl")) == read_jsonl(
      os.path.join(full_dir, "metrics.jsonl"))
  assert read_json(os.path.join(workdir, "final.json")) == read_json(
      os.path.join(full_dir, "final.json"))
  (step, tree), (full_step, full_tree) = final_state(workdir), final_state(full_dir)
  assert step == full_step == 6
  jax.tree_util.tree_map(np.testing.assert_array_equal, tree, full_tree)


class _FullFile(io.StringIO):
  """A file on a full disk: writes half of what it is given, then raises ENOSPC."""

  def __init__(self, real):
    super().__init__()
    self.real = real

  def write(self, text):
    self.real.write(text[:len(text) // 2])
    self.real.flush()
    raise _enospc(self.real.name)

  def __exit__(self, *exc):
    self.real.close()


def test_an_evaluation_row_that_does_not_fit_leaves_no_half_line(tmp_path, monkeypatch):
  writer = summary.MetricWriter(str(tmp_path))
  writer.evaluation(3, {"depth/abs_err": 0.5})
  real_open = open
  monkeypatch.setattr(summary, "open", lambda path, mode="r": _FullFile(real_open(path, mode)),
                      raising=False)
  with pytest.raises(OSError, match="No space left"):
    writer.evaluation(6, {"depth/abs_err": 0.25})
  monkeypatch.undo()
  assert writer.rows() == [{"step": 3, "depth/abs_err": 0.5}]
  writer.close()


def test_a_half_written_last_line_is_skipped_when_read(tmp_path):
  writer = summary.MetricWriter(str(tmp_path))
  writer.evaluation(3, {"depth/abs_err": 0.5})
  with open(writer.jsonl_path, "a") as f:
    f.write('{"step": 6, "depth/ab')  # Killed mid-write (before this fix, or by kill -9).
  assert writer.rows() == [{"step": 3, "depth/abs_err": 0.5}]
  writer.truncate_after(6)
  assert open(writer.jsonl_path).read() == json.dumps({"step": 3, "depth/abs_err": 0.5}) + "\n"
  writer.close()


def _mount_small_tmpfs(path, size):
  os.makedirs(path)
  proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                        capture_output=True, check=False)
  return proc.returncode == 0


def test_the_cli_on_a_really_full_disk_says_so_in_one_line(tmp_path, data_dir):
  """A 2 MiB tmpfs with 1.6 MiB taken: the tiny run fills it at a checkpoint or a metrics write.
  Needs the right to mount (root in a container that allows it), as the fault-injection run."""
  disk = tmp_path / "disk"
  if not _mount_small_tmpfs(disk, "2m"):
    pytest.skip("cannot mount a tmpfs here; the patched-writer tests above cover the logic")
  try:
    (disk / "filler").write_bytes(b"\0" * (1600 * 1024))
    proc = subprocess.run(
        [sys.executable, "-m", "mtl_jax.main", "--config=configs/tiny.py",
         f"--workdir={disk / 'run'}", f"--config.dataset.data_dir={data_dir}",
         "--config.schedule.num_steps=40"],
        capture_output=True, text=True, timeout=300, check=False, cwd=_ROOT)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert "No space left on device" in last and "MiB free" in last, last
    assert "(verified)" in last or "no checkpoint was written" in last or "no earlier" in last, last
    run = disk / "run"
    assert not [f for f in os.listdir(run) if f.endswith(".tmp")]
    steps = [d for d in os.listdir(run / "checkpoints")]
    assert all(d.isdigit() for d in steps), steps  # No half-written checkpoint left.
    for d in steps:
      sealed = os.path.exists(run / "checkpoints" / d / checkpoint.SEAL)
      assert not sealed or checkpoint.verify(str(run / "checkpoints" / d)) is None
  finally:
    subprocess.run(["umount", str(disk)], check=False)
