"""A damaged built dataset: the embedded one is rebuilt, a user's is named in one error with
its remedy, and a record garbled in the middle is named when it is read."""

import glob
import os

import numpy as np
import pytest

import manual_files
from mtl_jax import data

H, W = 16, 24  # configs/tiny.py's image size.
SPEC = {"image": ("image", (H, W, 3), 0), "label": ("label", (H, W), 13),
        "depth": ("depth", (H, W, 1), 0), "normal": ("normal", (H, W, 3), 0)}


def _truncate(path):
  with open(path, "r+b") as f:
    f.truncate(os.path.getsize(path) // 2)


def _garble(path):
  data_ = bytearray(open(path, "rb").read())
  middle = len(data_) // 3
  data_[middle:middle + 64] = bytes(64)
  open(path, "wb").write(bytes(data_))


DAMAGE = {"truncated": _truncate, "deleted": os.remove, "emptied": lambda p: open(p, "w").close()}


def _config(tmp_path, name="synthetic_scenes"):
  from configs import tiny  # pylint: disable=g-import-not-at-top
  config = tiny.get_config()
  config.dataset.data_dir = str(tmp_path / "tfds")
  if name == "nyuv2":
    manual = tmp_path / "manual"
    if not manual.exists():
      manual_files.write_npy_layout(manual, SPEC, {"train": 2, "val": 1})
    config.dataset.name, config.dataset.manual_dir = "nyuv2", str(manual)
  return config.dataset


def _train_shard(cfg):
  return sorted(glob.glob(f"{cfg.data_dir}/**/*-train.array_record-*", recursive=True))[0]


def _examples(source):
  return [source[i] for i in range(len(source))]


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_the_embedded_dataset_is_rebuilt_when_a_shard_is_damaged(tmp_path, damage, monkeypatch):
  cfg = _config(tmp_path)
  before = _examples(data.prepare(cfg).train)
  DAMAGE[damage](_train_shard(cfg))
  warnings = []
  monkeypatch.setattr(data.logging, "warning", lambda msg, *a: warnings.append(msg % a))
  after = _examples(data.prepare(cfg).train)
  rebuilt = [w for w in warnings if "rebuilding" in w]
  assert len(rebuilt) == 1 and rebuilt[0].startswith(f"{_train_shard(cfg)}: ")
  assert "rebuilding dataset 'synthetic_scenes'" in rebuilt[0]
  assert len(after) == len(before)
  for a, b in zip(after, before):
    for key in a:
      np.testing.assert_array_equal(a[key], b[key])


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_users_damaged_build_is_one_error_naming_the_file_and_the_remedy(tmp_path, damage):
  cfg = _config(tmp_path, "nyuv2")
  data.prepare(cfg)
  shard = _train_shard(cfg)
  DAMAGE[damage](shard)
  with pytest.raises(data.BuiltDataError) as raised:
    data.prepare(cfg)
  message = str(raised.value)
  assert message.startswith(f"{shard}: ") and "the built dataset is damaged: remove" in message
  assert message.endswith("and rerun to rebuild it (from config.dataset.manual_dir)")
  assert isinstance(raised.value, data.DataError)  # main.py: one line, exit status 1.


def test_a_garbled_record_is_named_when_read(tmp_path):
  cfg = _config(tmp_path)
  data.prepare(cfg)
  _garble(_train_shard(cfg))
  source = data.prepare(cfg).train  # Opens fine: the shard's index is intact.
  with pytest.raises(data.BuiltDataError,
                     match=r"split 'train' of .*: record \d+ does not read \(Corrupted"):
    _examples(source)
