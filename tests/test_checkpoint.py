"""Checkpoints are sealed, verified on restore, and a damaged newest one falls back."""

import glob
import os
import shutil

import numpy as np
import pytest

from mtl_jax import checkpoint


def _state(step):
  return {"w": np.full(256, step, np.float32), "b": {"c": np.arange(3.0) * step}}


def _target():
  return {"w": np.zeros(256, np.float32), "b": {"c": np.zeros(3)}}


@pytest.fixture
def two_checkpoints(tmp_path):
  directory = str(tmp_path / "checkpoints")
  ckpt = checkpoint.Checkpointer(directory, max_to_keep=3, repair=True)
  for step in (8, 10):
    ckpt.save(step, _state(step), {"position": step})
  ckpt.close()
  return directory


def _largest_data_file(step_dir):
  files = [f for f in glob.glob(f"{step_dir}/state/**/d/*", recursive=True)]
  return max(files, key=os.path.getsize)


def _truncate(step_dir):
  path = _largest_data_file(step_dir)
  with open(path, "r+b") as f:
    f.truncate(os.path.getsize(path) // 2)


def _flip(step_dir):
  path = _largest_data_file(step_dir)
  data = bytearray(open(path, "rb").read())
  middle = len(data) // 2
  data[middle:middle + 8] = bytes(b ^ 0xFF for b in data[middle:middle + 8])
  open(path, "wb").write(bytes(data))


DAMAGE = {
    "truncated data file": _truncate,
    "deleted data file": lambda d: os.remove(_largest_data_file(d)),
    "emptied manifest": lambda d: open(f"{d}/state/manifest.ocdbt", "w").close(),
    "deleted _METADATA": lambda d: os.remove(f"{d}/state/_METADATA"),
    "deleted process directory": lambda d: shutil.rmtree(f"{d}/state/ocdbt.process_0"),
    "eight bytes flipped": _flip,
    "eight bytes flipped, no seal": lambda d: (os.remove(f"{d}/{checkpoint.SEAL}"), _flip(d)),
}


def test_a_checkpoint_is_sealed_and_restores_as_saved(two_checkpoints):
  assert checkpoint.verify(f"{two_checkpoints}/10") is None
  assert os.path.exists(f"{two_checkpoints}/10/{checkpoint.SEAL}")
  ckpt = checkpoint.Checkpointer(two_checkpoints, repair=True)
  state, data = ckpt.restore(_target())
  ckpt.close()
  np.testing.assert_array_equal(state["w"], _state(10)["w"])
  assert data == {"position": 10}
  assert checkpoint.verify(f"{two_checkpoints}/10") is None  # Restoring changes nothing.


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_newest_checkpoint_is_moved_aside_and_the_previous_restores(
    two_checkpoints, damage, monkeypatch):
  DAMAGE[damage](f"{two_checkpoints}/10")
  warnings = []
  monkeypatch.setattr(checkpoint.logging, "warning", lambda msg, *a: warnings.append(msg % a))
  ckpt = checkpoint.Checkpointer(two_checkpoints, max_to_keep=3, repair=True)
  state, data = ckpt.restore(_target())
  assert ckpt.latest_step() == 8
  ckpt.close()
  np.testing.assert_array_equal(state["w"], _state(8)["w"])
  assert data == {"position": 8}
  aside = f"{two_checkpoints}_damaged/10"
  assert os.path.isdir(aside) and not os.path.exists(f"{two_checkpoints}/10")  # Kept, not deleted.
  assert [w for w in warnings if "damaged" in w] == [
      w for w in warnings if w.startswith(f"Checkpoint {two_checkpoints}/10 is damaged (")
      and w.endswith(f"); moved to {aside}; resuming from step 8")]
  assert len([w for w in warnings if "damaged" in w]) == 1


def test_the_seal_names_what_changed(two_checkpoints):
  step_dir = f"{two_checkpoints}/10"
  path = os.path.relpath(_largest_data_file(step_dir), step_dir)
  _truncate(step_dir)
  assert checkpoint.verify(step_dir).startswith(f"{path}: ")
  assert "bytes, sealed with" in checkpoint.verify(step_dir)


def test_an_empty_step_directory_left_by_someone_is_set_aside(two_checkpoints):
  os.makedirs(f"{two_checkpoints}/100")
  ckpt = checkpoint.Checkpointer(two_checkpoints, repair=True)
  _, data = ckpt.restore(_target())
  ckpt.close()
  assert data == {"position": 10} and os.path.isdir(f"{two_checkpoints}_damaged/100")


def test_when_none_restores_it_says_so_and_moves_nothing(two_checkpoints):
  for step in (8, 10):
    _truncate(f"{two_checkpoints}/{step}")
  ckpt = checkpoint.Checkpointer(two_checkpoints, repair=True)
  with pytest.raises(checkpoint.CheckpointError,
                     match=r"no checkpoint in .* restores \(step 10: .*; step 8: .*\); move them"):
    ckpt.restore(_target())
  ckpt.close()
  assert sorted(os.listdir(two_checkpoints)) == ["10", "8"]
  assert not os.path.exists(f"{two_checkpoints}_damaged")


def test_a_reader_skips_a_damaged_checkpoint_without_moving_it(two_checkpoints):
  _flip(f"{two_checkpoints}/10")
  ckpt = checkpoint.Checkpointer(two_checkpoints)  # As train.restore: not the run's own.
  _, data = ckpt.restore(_target())
  with pytest.raises(checkpoint.CheckpointError, match=r"checkpoints/10 does not restore: "):
    ckpt.restore(_target(), step=10)  # Asked for by step: an error, no fallback.
  ckpt.close()
  assert data == {"position": 8} and os.path.isdir(f"{two_checkpoints}/10")


def test_an_unfinished_temporary_directory_is_not_a_checkpoint(two_checkpoints):
  os.makedirs(f"{two_checkpoints}/12.orbax-checkpoint-tmp/state")
  ckpt = checkpoint.Checkpointer(two_checkpoints, repair=True)
  assert ckpt.latest_step() == 10
  _, data = ckpt.restore(_target())
  ckpt.close()
  assert data == {"position": 10}
  assert sorted(os.listdir(two_checkpoints)) == ["10", "8"]  # Cleaned up by the run.


def test_a_checkpoint_is_sealed_as_soon_as_it_is_committed(tmp_path):
  # Not at the next save: a run killed in between must not leave its newest checkpoint
  # unverifiable for a whole checkpoint interval (the loop calls seal_if_done every step).
  import time  # pylint: disable=g-import-not-at-top
  ckpt = checkpoint.Checkpointer(str(tmp_path / "checkpoints"), repair=True)
  seal = tmp_path / "checkpoints" / "4" / checkpoint.SEAL
  try:
    ckpt.save(4, _state(4), {"position": 4})
    deadline = time.time() + 60
    while not seal.exists() and time.time() < deadline:
      ckpt.seal_if_done()
      time.sleep(0.05)
    assert seal.exists()
    assert checkpoint.verify(str(tmp_path / "checkpoints" / "4")) is None
  finally:
    ckpt.close()


def test_a_restored_state_with_nan_is_damaged_and_the_previous_one_restores(tmp_path):
  # Training never checkpoints a non-finite state: one that restores with NaN was damaged
  # (e.g. bytes flipped before its seal was written).
  directory = str(tmp_path / "checkpoints")
  ckpt = checkpoint.Checkpointer(directory, max_to_keep=3, repair=True)
  ckpt.save(8, _state(8), {"position": 8})
  bad = _state(10)
  bad["b"]["c"][1] = np.nan
  ckpt.save(10, bad, {"position": 10})
  ckpt.close()
  ckpt = checkpoint.Checkpointer(directory, repair=True)
  state, data = ckpt.restore(_target())
  ckpt.close()
  assert data == {"position": 8}
  np.testing.assert_array_equal(state["w"], _state(8)["w"])
  assert os.listdir(f"{directory}_damaged") == ["10"]
