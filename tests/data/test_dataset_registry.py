"""nyuv2 and cityscapes by name: what they provide, their config fields, their errors."""

import os

import numpy as np
import pytest

from configs import default
from mtl_jax import build
from mtl_jax import data
from mtl_jax import schema
from tests.data import manual_files


def _config(name, **dataset):
  config = default.get_config()
  config.dataset.name = name
  config.tasks.names = ("segmentation", "depth")
  config.input.batch_size = config.input.eval_batch_size = 8
  for key, value in dataset.items():
    config.dataset[key] = value
  return config


@pytest.mark.parametrize("name, fields, tasks, classes, shape, first_class", [
    ("nyuv2", {}, ("segmentation", "depth", "normals"), 13, (288, 384, 3), "bed"),
    ("nyuv2", {"height": 6, "width": 8}, ("segmentation", "depth", "normals"), 13, (6, 8, 3),
     "bed"),
    ("cityscapes", {}, ("segmentation", "depth"), 7, (128, 256, 3), "flat"),
    ("cityscapes", {"num_classes": 19, "source": "official", "height": 256},
     ("segmentation", "depth"), 19, (256, 256, 3), "road"),
    ("synthetic_scenes", {}, ("segmentation", "depth", "normals", "edges"), 7, (96, 128, 3), "floor"),
])
def test_info(name, fields, tasks, classes, shape, first_class):
  config = _config(name, **fields)
  info = data.info(config.dataset)
  assert info.tasks == tasks
  assert info.num_classes == classes == len(info.class_names)
  assert info.class_names[0] == first_class
  assert info.image_shape == shape
  assert info.splits == ("train", "test")
  schema.check(config)


def test_builders_follow_the_config(tmp_path):
  builder = data.REGISTRY["cityscapes"].builder(
      _config("cityscapes", num_classes=19, data_dir=str(tmp_path)).dataset)
  assert builder.builder_config.name == "preprocessed_19"
  assert os.fspath(builder.data_dir).startswith(str(tmp_path))
  builder = data.REGISTRY["cityscapes"].builder(
      _config("cityscapes", source="official", width=512).dataset)
  assert builder.builder_config.name == "official_7_128x512"
  assert data.REGISTRY["nyuv2"].builder(_config("nyuv2").dataset).builder_config.name == "default"
  assert data.REGISTRY["nyuv2"].builder(
      _config("nyuv2", height=6, width=8).dataset).builder_config.name == "6x8"


def test_prepare_reads_the_configured_manual_dir(tmp_path):
  spec = {"image": ("image", (6, 8, 3), 0), "label": ("label", (6, 8), 13),
          "depth": ("depth", (6, 8), 0), "normal": ("normal", (6, 8, 3), 0)}
  written = manual_files.write_npy_layout(tmp_path / "files", spec, {"train": 3, "val": 2})
  config = _config("nyuv2", height=6, width=8, data_dir=str(tmp_path / "tfds"),
                   manual_dir=str(tmp_path / "files"))
  source = data.prepare(config.dataset)
  assert (len(source.train), len(source.eval), source.image_shape) == (3, 2, (6, 8, 3))
  np.testing.assert_array_equal(source.eval[1]["normals"], written["val"]["normal"][1])


def test_prepare_names_the_manual_dir_key(tmp_path):
  config = _config("cityscapes", data_dir=str(tmp_path / "tfds"),
                   manual_dir=str(tmp_path / "nowhere"))
  with pytest.raises(data.ManualDirError) as raised:
    data.prepare(config.dataset)
  assert isinstance(raised.value, data.DataError) and isinstance(raised.value, FileNotFoundError)
  message = str(raised.value)
  assert message.startswith(f"config.dataset.manual_dir ({tmp_path / 'nowhere'})")
  assert "github.com/lorenmt/mtan" in message and "label_7/<index>.npy" in message


def test_prepare_names_a_data_dir_it_cannot_write(tmp_path):
  (tmp_path / "a_file").write_text("")
  config = _config("nyuv2", height=6, width=8, data_dir=str(tmp_path / "a_file" / "tfds"),
                   manual_dir=str(tmp_path / "nowhere"))
  with pytest.raises(data.DataDirError) as raised:
    data.prepare(config.dataset)
  assert isinstance(raised.value, data.DataError) and isinstance(raised.value, OSError)
  assert str(raised.value).startswith(
      f"config.dataset.data_dir ({tmp_path / 'a_file' / 'tfds'}): preparing dataset 'nyuv2'"
      " there failed: ")
  assert "Not a directory" in str(raised.value)


def test_bad_file_is_a_data_error(tmp_path):
  spec = {"image": ("image", (6, 8, 3), 0), "label": ("label", (6, 8), 13),
          "depth": ("depth", (6, 8), 0), "normal": ("normal", (6, 8, 3), 0)}
  manual_files.write_npy_layout(tmp_path / "files", spec, {"train": 1, "val": 1})
  os.remove(tmp_path / "files" / "val" / "label" / "0.npy")
  config = _config("nyuv2", height=6, width=8, data_dir=str(tmp_path / "tfds"),
                   manual_dir=str(tmp_path / "files"))
  with pytest.raises(data.LayoutError, match="val/label/0.npy is missing") as raised:
    data.prepare(config.dataset)
  assert isinstance(raised.value, data.DataError) and isinstance(raised.value, ValueError)


@pytest.mark.parametrize("name, key, value, message", [
    ("cityscapes", "source", "raw", r"config\.dataset\.source: unknown value 'raw' for"
     r" 'cityscapes'; known: preprocessed, official"),
    ("cityscapes", "num_classes", 8, r"config\.dataset\.num_classes: unknown value 8 .*7, 19"),
    ("nyuv2", "num_classes", 13, r"config\.dataset\.num_classes: dataset 'nyuv2' has no such"
     r" option \(only cityscapes\)"),
    ("synthetic_scenes", "source", "official", r"config\.dataset\.source: dataset"
     r" 'synthetic_scenes' has no such option"),
    ("nyuv2", "height", 0, r"config\.dataset\.height: must be a positive integer"),
    ("nyuv2", "eval_split", "val", r"config\.dataset\.eval_split: unknown split 'val' of"
     r" 'nyuv2'; known: train, test \(.*val/ \"test\"\)"),
    ("cityscapes", "train_split", "training", r"config\.dataset\.train_split: unknown split"),
])
def test_bad_dataset_field_names_its_key(name, key, value, message):
  with pytest.raises(schema.ConfigError, match=message):
    build.experiment(_config(name, **{key: value}), with_data=False)


def test_task_cityscapes_lacks():
  config = _config("cityscapes")
  config.tasks.names = ("segmentation", "normals")
  with pytest.raises(schema.ConfigError,
                     match=r"task 'normals' is not in dataset 'cityscapes', which has:"
                           r" segmentation, depth"):
    build.experiment(config, with_data=False)
