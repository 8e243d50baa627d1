"""Builds NYUv2 from tiny fabricated files in the MTAN layout and reads it back."""

import os
import pickle
import shutil

import numpy as np
import pytest
import tensorflow_datasets as tfds

import manual_files
from mtl_jax.data import nyuv2
from mtl_jax.data import pipeline

H, W = 6, 8
SIZES = {"train": 3, "val": 2}
SPEC = {"image": ("image", (H, W, 3), 0), "label": ("label", (H, W), 13),
        "depth": ("depth", (H, W, 1), 0), "normal": ("normal", (H, W, 3), 0)}


def _write(root):
  return manual_files.write_npy_layout(root, SPEC, SIZES)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
  manual = tmp_path_factory.mktemp("manual")
  written = _write(manual)
  builder = manual_files.build(
      nyuv2.make_builder(str(tmp_path_factory.mktemp("tfds")), H, W), manual)
  return builder, written


def test_reads_back_what_was_written(built):
  builder, written = built
  source = builder.as_data_source()
  assert set(source) == {"train", "test"}
  for split, directory in (("train", "train"), ("test", "val")):
    files = written[directory]
    assert len(source[split]) == SIZES[directory]
    for i in range(SIZES[directory]):
      got = source[split][i]
      assert got["image"].dtype == np.uint8 and got["image"].shape == (H, W, 3)
      np.testing.assert_array_equal(
          got["image"], np.round(255 * files["image"][i].astype(np.float64)).astype(np.uint8))
      label = files["label"][i].astype(int)
      assert got["segmentation"].dtype == np.uint8
      np.testing.assert_array_equal(got["segmentation"], np.where(label == -1, 255, label))
      assert got["depth"].dtype == np.float32 and got["depth"].shape == (H, W)
      np.testing.assert_array_equal(got["depth"], files["depth"][i][..., 0])
      assert got["normals"].dtype == np.float32
      np.testing.assert_array_equal(got["normals"], files["normal"][i])


def test_info(built):
  builder, _ = built
  info = builder.info
  assert info.metadata["class_names"] == list(nyuv2.CLASS_NAMES)
  assert len(nyuv2.CLASS_NAMES) == 13
  assert tuple(info.features["image"].shape) == (H, W, 3)
  assert info.splits["train"].num_examples == 3 and info.splits["test"].num_examples == 2
  assert "github.com/lorenmt/mtan" in nyuv2.Nyuv2.MANUAL_DOWNLOAD_INSTRUCTIONS


def test_examples_feed_the_pipeline(built):
  builder, written = built
  keys = ("image", "segmentation", "depth", "normals")
  batch = next(pipeline.eval_batches(builder.as_data_source()["test"], keys=keys,
                                     batch_size=4))
  assert batch["segmentation"].dtype == np.int32 and batch["segmentation"].shape == (4, H, W)
  np.testing.assert_array_equal(batch["segmentation"][0], written["val"]["label"][0])
  np.testing.assert_array_equal(batch["depth"][3], 0.0)  # Padding.


def test_mock_data_feeds_the_pipeline():
  # tfds.testing.mock_data fakes array_record data sources without TensorFlow.
  with tfds.testing.mock_data(num_examples=3, policy=tfds.testing.MockPolicy.USE_CODE):
    source = nyuv2.make_builder().as_data_source(split="train")
    assert len(source) == 3
    example = pipeline.decode(source[0], ("image", "segmentation", "depth", "normals"))
  assert example["image"].shape == (288, 384, 3) and example["image"].dtype == np.uint8
  assert example["segmentation"].shape == (288, 384)
  assert example["segmentation"].dtype == np.int32
  assert example["depth"].shape == (288, 384) and example["normals"].shape == (288, 384, 3)


def test_finds_the_release_in_a_subdirectory(tmp_path):
  _write(tmp_path / "manual" / "nyuv2")
  (tmp_path / "manual" / "unrelated").mkdir()
  builder = manual_files.build(nyuv2.make_builder(str(tmp_path / "tfds"), H, W),
                               tmp_path / "manual")
  assert len(builder.as_data_source()["train"]) == 3


def _corrupt_extra_image(root):
  np.save(root / "train" / "image" / "12.npy", np.zeros((H, W, 3), np.float32))


def _corrupt_misnamed(root):
  os.rename(root / "val" / "depth" / "1.npy", root / "val" / "depth" / "depth_1.npy")


def _corrupt_missing_file(root):
  os.remove(root / "train" / "normal" / "2.npy")


def _corrupt_missing_directory(root):
  shutil.rmtree(root / "val" / "normal")


def _corrupt_shape(root):
  np.save(root / "train" / "image" / "1.npy", np.zeros((H, W + 1, 3), np.float32))


def _corrupt_nan_depth(root):
  depth = np.ones((H, W, 1), np.float32)
  depth[2, 3] = np.nan
  np.save(root / "val" / "depth" / "1.npy", depth)  # The last split written.


def _corrupt_image_range(root):
  np.save(root / "train" / "image" / "0.npy", np.full((H, W, 3), 1.5, np.float32))


def _corrupt_label_range(root):
  np.save(root / "train" / "label" / "1.npy", np.full((H, W), 13, np.float32))


def _corrupt_negative_depth(root):
  np.save(root / "train" / "depth" / "0.npy", np.full((H, W, 1), -1, np.float32))


@pytest.mark.parametrize("corrupt, error, names", [
    (_corrupt_extra_image, "12.npy is missing", ("train/label/12.npy", "train/image/12.npy")),
    (_corrupt_misnamed, "unexpected name", ("val/depth/depth_1.npy",)),
    (_corrupt_missing_file, "2.npy is missing", ("train/normal/2.npy", "index 2")),
    (_corrupt_missing_directory, "missing", ("val/normal",)),
    (_corrupt_shape, r"shape \(6, 9, 3\)", ("train/image/1.npy",)),
    (_corrupt_nan_depth, "NaN", ("val/depth/1.npy", "(2, 3, 0)")),
    (_corrupt_image_range, r"expected \[0, 1\]", ("train/image/0.npy",)),
    (_corrupt_label_range, r"outside \[-1, 13\)", ("train/label/1.npy",)),
    (_corrupt_negative_depth, "negative depth", ("train/depth/0.npy",)),
])
def test_bad_file_is_named_and_nothing_is_left(tmp_path, corrupt, error, names):
  manual, data_dir = tmp_path / "manual", str(tmp_path / "tfds")
  _write(manual)
  corrupt(manual)
  with pytest.raises(ValueError, match=error) as raised:
    manual_files.build(nyuv2.make_builder(data_dir, H, W), manual)
  for name in names:
    assert name in str(raised.value)
  assert not manual_files.leftovers(data_dir)
  # Fixed files: the next build succeeds.
  manual_files.reset(manual)
  _write(manual)
  builder = manual_files.build(nyuv2.make_builder(data_dir, H, W), manual)
  assert len(builder.as_data_source()["test"]) == 2


@pytest.mark.parametrize("make", ["missing", "empty"])
def test_missing_or_empty_manual_dir(tmp_path, make):
  manual, data_dir = tmp_path / "manual", str(tmp_path / "tfds")
  if make == "empty":
    manual.mkdir()
  with pytest.raises(FileNotFoundError) as raised:
    manual_files.build(nyuv2.make_builder(data_dir, H, W), manual)
  message = str(raised.value)
  for part in (str(manual), "github.com/lorenmt/mtan", "train/image/<index>.npy",
               "val/normal/<index>.npy"):
    assert part in message
  assert not manual_files.leftovers(data_dir)


def test_unrelated_manual_dir_names_the_missing_directories(tmp_path):
  (tmp_path / "manual" / "something").mkdir(parents=True)
  with pytest.raises(ValueError, match="does not hold the expected layout") as raised:
    manual_files.build(nyuv2.make_builder(str(tmp_path / "tfds"), H, W), tmp_path / "manual")
  assert os.path.join(str(tmp_path / "manual"), "train", "image") in str(raised.value)


def test_default_config_builds_the_release_size_and_pickles(tmp_path):
  spec = {d: (kind, (288, 384) + shape[2:], c) for d, (kind, shape, c) in SPEC.items()}
  written = manual_files.write_npy_layout(tmp_path / "manual", spec, {"train": 1, "val": 1})
  builder = manual_files.build(nyuv2.make_builder(str(tmp_path / "tfds")), tmp_path / "manual")
  assert builder.builder_config is nyuv2.DEFAULT_CONFIG
  # grain's worker processes unpickle the source, rebuilding the builder.
  source = pickle.loads(pickle.dumps(builder.as_data_source()["test"]))
  np.testing.assert_array_equal(source[0]["normals"], written["val"]["normal"][0])


def test_default_config_expects_the_release_size(tmp_path):
  _write(tmp_path / "manual")
  assert nyuv2.make_config() is nyuv2.DEFAULT_CONFIG
  with pytest.raises(ValueError, match=r"expected \(288, 384, 3\)"):
    manual_files.build(nyuv2.make_builder(str(tmp_path / "tfds")), tmp_path / "manual")
  assert nyuv2.make_config(6, 8).name == "6x8"
