"""Builds Cityscapes from tiny fabricated files (MTAN release and official layout)."""

import json
import os
import pickle
import shutil

import numpy as np
from PIL import Image
import pytest
import tensorflow_datasets as tfds

import manual_files
from mtl_jax.data import cityscapes
from mtl_jax.data import cityscapes_official
from mtl_jax.data import pipeline

H, W = 6, 8
SIZES = {"train": 3, "val": 2}
SPEC = {"image": ("image", (H, W, 3), 0), "label_7": ("label", (H, W), 7),
        "label_19": ("label", (H, W), 19), "depth": ("depth", (H, W, 1), 0)}

# Official labelId -> (19-class id, 7-class id), from the Cityscapes labels table
# (cityscapesScripts helpers/labels.py), written out independently of the builder.
LABEL_IDS = {0: (255, 255), 4: (255, 255), 7: (0, 0), 9: (255, 0), 11: (2, 1),
             15: (255, 1), 17: (5, 2), 20: (7, 2), 21: (8, 3), 22: (9, 3), 23: (10, 4),
             24: (11, 5), 25: (12, 5), 26: (13, 6), 29: (255, 6), 31: (16, 6), 33: (18, 6)}
CITIES = {"train": ("aachen", "bochum"), "val": ("frankfurt",)}
BASELINE, FX = 0.209313, 2262.52


# The preprocessed (MTAN) release.


def _write(root):
  return manual_files.write_npy_layout(root, SPEC, SIZES)


@pytest.fixture(scope="module")
def preprocessed(tmp_path_factory):
  manual = tmp_path_factory.mktemp("manual")
  return manual, _write(manual), str(tmp_path_factory.mktemp("tfds"))


@pytest.mark.parametrize("num_classes", [7, 19])
def test_preprocessed_reads_back_what_was_written(preprocessed, num_classes):
  manual, written, data_dir = preprocessed
  builder = manual_files.build(
      cityscapes.make_builder(data_dir, "preprocessed", num_classes, H, W), manual)
  assert builder.builder_config.name == f"preprocessed_{num_classes}_6x8"
  assert builder.info.metadata["class_names"] == list(cityscapes.CLASS_NAMES[num_classes])
  source = builder.as_data_source()
  for split, directory in (("train", "train"), ("test", "val")):
    files = written[directory]
    assert len(source[split]) == SIZES[directory]
    for i in range(SIZES[directory]):
      got = source[split][i]
      assert set(got) == {"image", "segmentation", "depth"}
      np.testing.assert_array_equal(
          got["image"], np.round(255 * files["image"][i].astype(np.float64)).astype(np.uint8))
      label = files[f"label_{num_classes}"][i].astype(int)
      assert got["segmentation"].dtype == np.uint8
      np.testing.assert_array_equal(got["segmentation"], np.where(label == -1, 255, label))
      assert got["depth"].dtype == np.float32 and got["depth"].shape == (H, W)
      np.testing.assert_array_equal(got["depth"], files["depth"][i][..., 0])
  example = pipeline.decode(source["test"][0], ("image", "segmentation", "depth"))
  np.testing.assert_array_equal(example["segmentation"],
                                written["val"][f"label_{num_classes}"][0])


def test_mock_data_feeds_the_pipeline():
  with tfds.testing.mock_data(num_examples=2, policy=tfds.testing.MockPolicy.USE_CODE):
    source = cityscapes.make_builder(num_classes=19).as_data_source(split="test")
    example = pipeline.decode(source[1], ("image", "segmentation", "depth"))
  assert example["image"].shape == (128, 256, 3) and example["image"].dtype == np.uint8
  assert example["segmentation"].shape == (128, 256)
  assert example["segmentation"].dtype == np.int32
  assert example["depth"].shape == (128, 256) and example["depth"].dtype == np.float32


def _extra_image(root):
  np.save(root / "val" / "image" / "12.npy", np.zeros((H, W, 3), np.float32))


def _nan_depth(root):
  depth = np.ones((H, W, 1), np.float32)
  depth[0, 5] = np.nan
  np.save(root / "val" / "depth" / "0.npy", depth)


def _shape(root):
  np.save(root / "train" / "depth" / "2.npy", np.ones((H + 1, W, 1), np.float32))


def _label_range(root):
  np.save(root / "train" / "label_7" / "1.npy", np.full((H, W), 7, np.int64))


def _label_not_integer(root):
  np.save(root / "train" / "label_7" / "0.npy", np.full((H, W), 0.5, np.float32))


@pytest.mark.parametrize("corrupt, error, names", [
    (_extra_image, "12.npy is missing", ("val/label_7/12.npy", "val/image/12.npy")),
    (_nan_depth, "NaN", ("val/depth/0.npy", "(0, 5, 0)")),
    (_shape, r"shape \(7, 8, 1\)", ("train/depth/2.npy",)),
    (_label_range, r"outside \[-1, 7\)", ("train/label_7/1.npy",)),
    (_label_not_integer, "non-integer", ("train/label_7/0.npy",)),
])
def test_preprocessed_bad_file_is_named_and_nothing_is_left(tmp_path, corrupt, error, names):
  manual, data_dir = tmp_path / "manual", str(tmp_path / "tfds")
  _write(manual)
  corrupt(manual)
  make = lambda: cityscapes.make_builder(data_dir, "preprocessed", 7, H, W)
  with pytest.raises(ValueError, match=error) as raised:
    manual_files.build(make(), manual)
  for name in names:
    assert name in str(raised.value)
  assert not manual_files.leftovers(data_dir)
  manual_files.reset(manual)
  _write(manual)
  assert len(manual_files.build(make(), manual).as_data_source()["train"]) == 3


def test_preprocessed_19_needs_label_19(tmp_path):
  _write(tmp_path / "manual")
  shutil.rmtree(tmp_path / "manual" / "val" / "label_19")
  with pytest.raises(ValueError, match="missing") as raised:
    manual_files.build(cityscapes.make_builder(str(tmp_path / "tfds"), "preprocessed", 19,
                                               H, W), tmp_path / "manual")
  assert os.path.join("val", "label_19") in str(raised.value)


@pytest.mark.parametrize("source", cityscapes.SOURCES)
@pytest.mark.parametrize("make", ["missing", "empty"])
def test_missing_or_empty_manual_dir(tmp_path, source, make):
  manual, data_dir = tmp_path / "manual", str(tmp_path / "tfds")
  if make == "empty":
    manual.mkdir()
  with pytest.raises(FileNotFoundError) as raised:
    manual_files.build(cityscapes.make_builder(data_dir, source, 7, H, W), manual)
  message = str(raised.value)
  for part in (str(manual), "github.com/lorenmt/mtan", "train/label_19/<index>.npy",
               "gtFine/{train,val}/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png",
               "camera_trainvaltest.zip"):
    assert part in message
  assert not manual_files.leftovers(data_dir)


def test_configs():
  names = [c.name for c in cityscapes.Cityscapes.BUILDER_CONFIGS]
  assert names == ["preprocessed_7", "preprocessed_19", "official_7", "official_19"]
  assert cityscapes.make_config() is cityscapes.Cityscapes.BUILDER_CONFIGS[0]
  assert cityscapes.make_config("official", 19, 256, 512).name == "official_19_256x512"
  with pytest.raises(ValueError, match="source"):
    cityscapes.make_config("raw")
  with pytest.raises(ValueError, match="num_classes"):
    cityscapes.make_config(num_classes=8)


@pytest.mark.parametrize("num_classes", [7, 19])
def test_default_configs_build_the_release_size_and_pickle(tmp_path, num_classes):
  spec = {d: (kind, (128, 256) + shape[2:], c) for d, (kind, shape, c) in SPEC.items()}
  written = manual_files.write_npy_layout(tmp_path / "manual", spec, {"train": 1, "val": 1})
  builder = manual_files.build(
      cityscapes.make_builder(str(tmp_path / "tfds"), num_classes=num_classes),
      tmp_path / "manual")
  assert builder.builder_config.name == f"preprocessed_{num_classes}"
  # grain's worker processes unpickle the source, rebuilding the builder.
  source = pickle.loads(pickle.dumps(builder.as_data_source()["train"]))
  np.testing.assert_array_equal(source[0]["depth"], written["train"]["depth"][0][..., 0])


def test_default_config_expects_the_release_size(tmp_path):
  _write(tmp_path / "manual")
  with pytest.raises(ValueError, match=r"expected \(128, 256, 3\)"):
    manual_files.build(cityscapes.make_builder(str(tmp_path / "tfds")), tmp_path / "manual")


# The official release.


def _write_official(root, height, width, seed=0, image=None):
  """Two train cities (2 and 1 images) and one val city (2 images); returns the files."""
  rng = np.random.default_rng(seed)
  written = {}
  ids = np.array(sorted(LABEL_IDS), np.uint8)
  for split, cities in CITIES.items():
    written[split] = []
    for c, city in enumerate(cities):
      for frame in range(2 - c):
        stem = f"{city}_{c:06d}_{frame:06d}"
        rgb = (rng.integers(0, 256, (height, width, 3), dtype=np.uint8) if image is None
               else image)
        label_ids = rng.choice(ids, (height, width))
        disparity = rng.integers(2, 30000, (height, width)).astype(np.uint16)
        disparity[0, :3] = (0, 1, 257)
        baseline, fx = BASELINE * (1 + 0.1 * frame), FX + c
        for top, suffix, save in (
            ("leftImg8bit", "_leftImg8bit.png", lambda p: Image.fromarray(rgb).save(p)),
            ("gtFine", "_gtFine_labelIds.png", lambda p: Image.fromarray(label_ids).save(p)),
            ("disparity", "_disparity.png", lambda p: Image.fromarray(disparity).save(p)),
            ("camera", "_camera.json", lambda p: _save_camera(p, baseline, fx))):
          os.makedirs(root / top / split / city, exist_ok=True)
          save(root / top / split / city / (stem + suffix))
        # gtFine's other files are ignored.
        Image.fromarray(label_ids).save(root / "gtFine" / split / city /
                                        f"{stem}_gtFine_color.png")
        written[split].append(dict(stem=stem, image=rgb, label_ids=label_ids,
                                   disparity=disparity, baseline=baseline, fx=fx))
  return written


def _save_camera(path, baseline, fx):
  with open(path, "w") as f:
    json.dump({"extrinsic": {"baseline": baseline, "pitch": 0.038, "roll": 0.0, "x": 1.7,
                             "y": 0.0, "yaw": -0.0195, "z": 1.18},
               "intrinsic": {"fx": fx, "fy": 2265.3, "u0": 1096.98, "v0": 513.137}}, f)


def _want_label(label_ids, num_classes):
  column = 0 if num_classes == 19 else 1
  table = np.full(256, -7, np.int64)
  for label_id, mapped in LABEL_IDS.items():
    table[label_id] = mapped[column]
  return table[label_ids]


def _want_depth(sample):
  p = sample["disparity"].astype(np.float64)
  with np.errstate(divide="ignore"):
    depth = np.where(p > 1, sample["baseline"] * sample["fx"] * 256 / (p - 1), 0.0)
  return depth.astype(np.float32)


def test_disparity_to_depth():
  np.testing.assert_allclose(
      cityscapes_official.disparity_to_depth(np.array([[0, 1, 257, 513]], np.uint16), 0.2, 2000.0),
      [[0.0, 0.0, 400.0, 200.0]])


@pytest.mark.parametrize("num_classes", [7, 19])
def test_official_reads_back_converted_files(tmp_path, num_classes):
  written = _write_official(tmp_path / "manual", H, W)
  builder = manual_files.build(
      cityscapes.make_builder(str(tmp_path / "tfds"), "official", num_classes, H, W),
      tmp_path / "manual")
  assert builder.info.metadata["depth_units"] == "metres"
  source = builder.as_data_source()
  for split, directory in (("train", "train"), ("test", "val")):
    assert len(source[split]) == len(written[directory])
    for i, sample in enumerate(written[directory]):  # Sorted by city, then name.
      got = source[split][i]
      np.testing.assert_array_equal(got["image"], sample["image"])
      np.testing.assert_array_equal(got["segmentation"],
                                    _want_label(sample["label_ids"], num_classes))
      np.testing.assert_allclose(got["depth"], _want_depth(sample), rtol=1e-6)
      np.testing.assert_array_equal(got["depth"][0, :2], 0.0)  # p = 0, 1: invalid.
      np.testing.assert_allclose(got["depth"][0, 2], sample["baseline"] * sample["fx"],
                                 rtol=1e-6)  # p = 257: d = 1.


def test_official_resizes_bilinear_image_nearest_labels_and_depth(tmp_path):
  ramp = np.broadcast_to((10 * np.arange(2 * W))[None, :, None], (2 * H, 2 * W, 3))
  written = _write_official(tmp_path / "manual", 2 * H, 2 * W, image=ramp.astype(np.uint8))
  builder = manual_files.build(
      cityscapes.make_builder(str(tmp_path / "tfds"), "official", 19, H, W),
      tmp_path / "manual")
  rows = np.floor((np.arange(H) + 0.5) * 2).astype(int)  # Nearest: the centre's pixel.
  cols = np.floor((np.arange(W) + 0.5) * 2).astype(int)
  for i, sample in enumerate(written["train"]):
    got = builder.as_data_source()["train"][i]
    assert got["image"].shape == (H, W, 3)
    # Away from the borders, a (antialiased) bilinear filter keeps a linear ramp:
    # output column j samples the source at 2 j + 0.5.
    np.testing.assert_array_equal(got["image"][:, 1:-1, 0],
                                  np.broadcast_to(20 * np.arange(1, W - 1) + 5, (H, W - 2)))
    np.testing.assert_array_equal(got["segmentation"],
                                  _want_label(sample["label_ids"], 19)[rows][:, cols])
    np.testing.assert_allclose(got["depth"], _want_depth(sample)[rows][:, cols], rtol=1e-6)


def _first(root, top, split="train"):
  city = CITIES[split][0]
  directory = root / top / split / city
  return directory, sorted(os.listdir(directory))[0]


def _missing_label(root):
  directory, _ = _first(root, "gtFine")
  os.remove(directory / "aachen_000000_000001_gtFine_labelIds.png")


def _unpaired_label(root):
  directory, name = _first(root, "gtFine")
  shutil.copy(directory / name, directory / "aachen_000000_000009_gtFine_labelIds.png")


def _stray_file(root):
  directory, name = _first(root, "disparity", "val")
  shutil.copy(directory / name, directory / "frankfurt_notes.png")


def _camera_without_fx(root):
  directory, _ = _first(root, "camera")
  with open(directory / "aachen_000000_000000_camera.json", "w") as f:
    json.dump({"extrinsic": {"baseline": 0.2}, "intrinsic": {}}, f)


def _size_mismatch(root):
  directory, _ = _first(root, "disparity")
  Image.fromarray(np.ones((H, W + 1), np.uint16)).save(
      directory / "aachen_000000_000001_disparity.png")


def _unknown_label_id(root):
  directory, _ = _first(root, "gtFine", "val")
  Image.fromarray(np.full((H, W), 40, np.uint8)).save(
      directory / "frankfurt_000000_000001_gtFine_labelIds.png")


@pytest.mark.parametrize("corrupt, error, names", [
    (_missing_label, "is missing",
     ("gtFine/train/aachen/aachen_000000_000001_gtFine_labelIds.png",
      "leftImg8bit/train/aachen/aachen_000000_000001_leftImg8bit.png")),
    (_unpaired_label, "is missing",
     ("leftImg8bit/train/aachen/aachen_000000_000009_leftImg8bit.png",
      "gtFine/train/aachen/aachen_000000_000009_gtFine_labelIds.png")),
    (_stray_file, "unexpected name", ("disparity/val/frankfurt/frankfurt_notes.png",)),
    (_camera_without_fx, "intrinsic.fx", ("camera/train/aachen/aachen_000000_000000_camera.json",)),
    (_size_mismatch, "sizes differ", ("aachen_000000_000001_disparity.png is 9x6",)),
    (_unknown_label_id, "not Cityscapes labelIds",
     ("gtFine/val/frankfurt/frankfurt_000000_000001_gtFine_labelIds.png", "[40]")),
])
def test_official_bad_file_is_named_and_nothing_is_left(tmp_path, corrupt, error, names):
  manual, data_dir = tmp_path / "manual", str(tmp_path / "tfds")
  _write_official(manual, H, W)
  corrupt(manual)
  make = lambda: cityscapes.make_builder(data_dir, "official", 7, H, W)
  with pytest.raises(ValueError, match=error) as raised:
    manual_files.build(make(), manual)
  for name in names:
    assert name in str(raised.value)
  assert not manual_files.leftovers(data_dir)
  manual_files.reset(manual)
  _write_official(manual, H, W)
  assert len(manual_files.build(make(), manual).as_data_source()["test"]) == 2


def test_official_needs_the_official_directories(tmp_path):
  _write(tmp_path / "manual")  # The MTAN release only.
  with pytest.raises(ValueError, match="missing directory") as raised:
    manual_files.build(cityscapes.make_builder(str(tmp_path / "tfds"), "official", 7, H, W),
                       tmp_path / "manual")
  assert os.path.join("leftImg8bit", "train") in str(raised.value)
  assert "camera_trainvaltest.zip" in str(raised.value)
