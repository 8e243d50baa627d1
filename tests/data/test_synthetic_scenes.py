"""Builds a tiny synthetic-scenes dataset and reads it back without TensorFlow."""

import numpy as np
import pytest

from mtl_jax.data import scenes
from mtl_jax.data import synthetic_scenes

H, W, NUM_TRAIN, NUM_TEST, SEED = 24, 32, 6, 3, 5


@pytest.fixture(scope="module")
def builder(tmp_path_factory):
  config = synthetic_scenes.make_config(H, W, NUM_TRAIN, NUM_TEST, seed=SEED)
  b = synthetic_scenes.SyntheticScenes(config=config,
                                       data_dir=str(tmp_path_factory.mktemp("tfds")))
  b.download_and_prepare()
  return b


def test_splits_match_render_example(builder):
  source = builder.as_data_source()
  assert len(source["train"]) == NUM_TRAIN and len(source["test"]) == NUM_TEST
  offsets = {"train": 0, "test": synthetic_scenes.TEST_INDEX_OFFSET}
  images = []
  for split, offset in offsets.items():
    for i in range(len(source[split])):
      got = source[split][i]
      assert set(got) == {"image", "segmentation", "depth", "normals", "edges"}
      assert got["image"].dtype == np.uint8 and got["image"].shape == (H, W, 3)
      assert got["segmentation"].dtype == np.uint8 and got["segmentation"].shape == (H, W)
      assert got["depth"].dtype == np.float32 and got["depth"].shape == (H, W)
      assert got["normals"].dtype == np.float32 and got["normals"].shape == (H, W, 3)
      want = scenes.render_example(SEED, offset + i, H, W)
      for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=f"{split}[{i}] {key}")
      images.append(got["image"].tobytes())
  assert len(set(images)) == NUM_TRAIN + NUM_TEST  # No scene shared.


def test_parallel_build_writes_the_same_records(builder, tmp_path):
  parallel = synthetic_scenes.SyntheticScenes(
      config=builder.builder_config, data_dir=str(tmp_path), num_workers=2)
  parallel.download_and_prepare()
  want, got = builder.as_data_source(), parallel.as_data_source()
  for split in ("train", "test"):
    assert len(got[split]) == len(want[split])
    for i in range(len(want[split])):
      for key, value in want[split][i].items():
        np.testing.assert_array_equal(got[split][i][key], value)


def test_info(builder):
  info = builder.info
  assert info.metadata["class_names"] == list(scenes.CLASS_NAMES)
  assert all(name in info.description for name in scenes.CLASS_NAMES)
  assert tuple(info.features["image"].shape) == (H, W, 3)
  assert info.splits["train"].num_examples == NUM_TRAIN


def test_make_config_names():
  a = synthetic_scenes.make_config(24, 32, 6, 3, seed=1)
  assert a.name == "24x32_train6_test3_seed1"
  assert (a.height, a.width, a.num_train, a.num_test, a.seed) == (24, 32, 6, 3, 1)
  names = {synthetic_scenes.make_config(*v).name
           for v in [(24, 32, 6, 3, 1), (32, 24, 6, 3, 1), (24, 32, 7, 3, 1),
                     (24, 32, 6, 4, 1), (24, 32, 6, 3, 2)]}
  assert len(names) == 5
  default = synthetic_scenes.make_config(96, 128, 2000, 400, 0)
  assert default.name == "default"
  assert synthetic_scenes.SyntheticScenes.BUILDER_CONFIGS[0] is default
