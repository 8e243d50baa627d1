"""The synthetic-scenes dataset as a tensorflow-datasets builder.

Needs no download: ``scenes.render_example`` draws every example, so the
dataset builds on a fresh machine (the default, 96 x 128 with 2000 train and
400 test examples, in well under a minute). Stored as array_record, so it is
written and read without TensorFlow::

  builder = SyntheticScenes(config=make_config(48, 64, 200, 50, seed=0),
                            data_dir="/tmp/tfds")
  builder.download_and_prepare()
  example = builder.as_data_source()["train"][0]

What ``builder.as_data_source()[split][i]`` returns (NumPy, no TensorFlow)::

  image         uint8   [H, W, 3]   (PNG, decoded losslessly)
  segmentation  uint8   [H, W]      class ids, see scenes.CLASS_NAMES
  depth         float32 [H, W]      metric camera z-depth, > 0 everywhere
  normals       float32 [H, W, 3]   unit camera-frame normals (x right, y down,
                                    z forward), facing the camera
  edges         uint8   [H, W]      1 on a boundary between two surfaces (objects,
                                    the room's faces), else 0

Splits: record ``i`` of ``train`` is ``render_example(seed, i)``
(``i < num_train``); record ``i`` of ``test`` is ``render_example(seed,
TEST_INDEX_OFFSET + i)``, so the splits never share a scene and the test set
does not change with ``num_train``. Records keep generation order (shuffling is
disabled); shuffle in the input pipeline.
"""

import dataclasses
import multiprocessing
import os
from typing import Optional

import ml_collections
import tensorflow_datasets as tfds

from mtl_jax.data import dataset
from mtl_jax.data import modalities
from mtl_jax.data import scenes

TEST_INDEX_OFFSET = 1_000_000_000  # Test example i is scene index offset + i.
TASKS = ("segmentation", "depth", "normals", "edges")  # Ground truth besides the image.
OPTIONS = {}  # No optional config.dataset field (source, num_classes).

_DESCRIPTION = f"""\
Procedural indoor scenes (a room with 3-7 objects on the floor, one point light
with cast shadows, a pinhole camera with a 60 degree horizontal field of view
pitched down), ray cast in NumPy, with per-pixel semantic segmentation (by
shape), metric z-depth, camera-frame surface normals and surface edges.
Classes (id: name): {", ".join(f"{i}: {n}" for i, n in enumerate(scenes.CLASS_NAMES))}.
"""


@dataclasses.dataclass
class SyntheticScenesConfig(tfds.core.BuilderConfig):
  """Image size, split sizes and scene seed of a synthetic-scenes dataset."""
  height: int = 96
  width: int = 128
  num_train: int = 2000
  num_test: int = 400
  seed: int = 0


DEFAULT_CONFIG = SyntheticScenesConfig(
    name="default", description="96 x 128, 2000 train / 400 test, seed 0.")


def make_config(height: int, width: int, num_train: int, num_test: int,
                seed: int = 0) -> SyntheticScenesConfig:
  """A config for any size; its name encodes every value.

  Different values get different names, hence different tfds directories. The
  values of the default config give ``DEFAULT_CONFIG`` itself.

  Args:
    height: image rows H.
    width: image columns W.
    num_train: number of train examples.
    num_test: number of test examples.
    seed: scene stream seed.

  Returns:
    A ``SyntheticScenesConfig``.

  Example::

    make_config(24, 32, 6, 3, seed=1).name  # "24x32_train6_test3_seed1"
  """
  values = dict(height=int(height), width=int(width), num_train=int(num_train),
                num_test=int(num_test), seed=int(seed))
  if num_train > TEST_INDEX_OFFSET:
    raise ValueError(f"num_train must be at most {TEST_INDEX_OFFSET}; got {num_train}")
  if all(getattr(DEFAULT_CONFIG, k) == v for k, v in values.items()):
    return DEFAULT_CONFIG
  name = "{height}x{width}_train{num_train}_test{num_test}_seed{seed}".format(**values)
  return SyntheticScenesConfig(
      name=name, description=f"{height} x {width}, {num_train} train / {num_test} test,"
      f" seed {seed}.", **values)


def info(cfg: ml_collections.ConfigDict) -> dataset.DatasetInfo:
  """The dataset as ``config.dataset`` sets it (``height``, ``width``; default 96 x 128)."""
  height, width = dataset.image_size(cfg, (DEFAULT_CONFIG.height, DEFAULT_CONFIG.width))
  return dataset.DatasetInfo(TASKS, scenes.NUM_CLASSES, tuple(scenes.CLASS_NAMES),
                             (height, width, 3))


# Its examples are a function of its config: a damaged build is rebuilt (data.prepare).
REBUILDABLE = True


def builder(cfg: ml_collections.ConfigDict) -> "SyntheticScenes":
  """The builder of ``config.dataset`` (``height``, ``width``, ``num_train``, ``num_test``,
  ``scene_seed``, ``data_dir``)."""
  height, width = info(cfg).image_shape[:2]
  builder_config = make_config(height=height, width=width, num_train=cfg.num_train,
                               num_test=cfg.num_test, seed=cfg.scene_seed)
  if builder_config is DEFAULT_CONFIG:
    # By name: a pickled copy of a registered config (grain's worker processes
    # rebuild the builder) is refused by tfds as a clash with the registered one.
    builder_config = builder_config.name
  return SyntheticScenes(config=builder_config, data_dir=cfg.data_dir)


def _encoded_example(job):
  """Renders ``job = (seed, index, height, width)``, encoded for the builder."""
  return modalities.encode(scenes.render_example(*job))


class SyntheticScenes(tfds.core.GeneratorBasedBuilder):
  """Procedural indoor scenes with segmentation, depth, normals and edges.

  Args (besides tfds's):
    num_workers: processes that render in parallel (a "forkserver" pool, so it
      is safe after jax is imported); 0 or 1: render in this process. ``None``:
      one per available CPU but one, at most 8, where there are at least 4
      CPUs (with fewer, the writing process competes with the renderers), else
      0. Records come out in the same order whatever the value.
  """

  VERSION = tfds.core.Version("1.1.0")
  RELEASE_NOTES = {"1.0.0": "Initial release.",
                   "1.1.0": "Edges: boundaries between surfaces (objects, the room's faces)."}
  BUILDER_CONFIGS = [DEFAULT_CONFIG]

  def __init__(self, *, file_format="array_record", num_workers: Optional[int] = None,
               **kwargs):
    super().__init__(file_format=file_format, **kwargs)
    if num_workers is None:
      cpus = len(os.sched_getaffinity(0))
      num_workers = min(cpus - 1, 8) if cpus >= 4 else 0
    self._num_workers = num_workers

  def _info(self) -> tfds.core.DatasetInfo:
    h, w = self.builder_config.height, self.builder_config.width
    return self.dataset_info_from_configs(
        description=_DESCRIPTION,
        features=modalities.features(("image",) + TASKS, h, w),
        supervised_keys=None,
        # Keep generation order, so record i of a split is scene index i.
        disable_shuffling=True,
        metadata=tfds.core.MetadataDict(class_names=list(scenes.CLASS_NAMES)),
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Nothing to download.
    cfg = self.builder_config
    return {
        "train": self._generate_examples(0, cfg.num_train),
        "test": self._generate_examples(TEST_INDEX_OFFSET, cfg.num_test),
    }

  def _generate_examples(self, offset, count):
    cfg = self.builder_config
    jobs = [(cfg.seed, offset + i, cfg.height, cfg.width) for i in range(count)]
    if self._num_workers <= 1:
      yield from enumerate(map(_encoded_example, jobs))
      return
    context = multiprocessing.get_context("forkserver")
    with context.Pool(self._num_workers) as pool:
      chunksize = max(1, min(16, count // (4 * self._num_workers)))
      yield from enumerate(pool.imap(_encoded_example, jobs, chunksize=chunksize))
