"""Datasets as tensorflow-datasets builders, and the input pipeline.

``REGISTRY`` maps ``config.dataset.name`` to the dataset's description;
``prepare(config.dataset)`` builds the dataset if needed and returns random-
access sources for its train and evaluation splits. This package imports no jax.
"""

from typing import Any, Callable, NamedTuple

import ml_collections
import tensorflow_datasets as tfds

from mtl_jax.data import scenes
from mtl_jax.data import synthetic_scenes


class DatasetInfo(NamedTuple):
  """What a dataset provides, known without building it."""
  tasks: tuple[str, ...]  # Ground-truth keys besides "image".
  num_classes: int
  class_names: tuple[str, ...]
  image_shape: tuple[int, int, int]  # [H, W, 3]


class Source(NamedTuple):
  """Random-access splits (``len(source)``, ``source[i]`` -> dict of arrays)."""
  train: Any
  eval: Any
  image_shape: tuple[int, int, int]


class Dataset(NamedTuple):
  info: Callable[[ml_collections.ConfigDict], DatasetInfo]
  builder: Callable[[ml_collections.ConfigDict], Any]


def _synthetic_info(cfg) -> DatasetInfo:
  return DatasetInfo(("segmentation", "depth", "normals"), scenes.NUM_CLASSES,
                     tuple(scenes.CLASS_NAMES), (cfg.height, cfg.width, 3))


def _synthetic_builder(cfg):
  builder_config = synthetic_scenes.make_config(
      height=cfg.height, width=cfg.width, num_train=cfg.num_train, num_test=cfg.num_test,
      seed=cfg.scene_seed)
  if builder_config is synthetic_scenes.DEFAULT_CONFIG:
    # By name: a pickled copy of a registered config (grain's worker processes
    # rebuild the builder) is refused by tfds as a clash with the registered one.
    builder_config = builder_config.name
  return synthetic_scenes.SyntheticScenes(config=builder_config, data_dir=cfg.data_dir)


# name -> Dataset. The one place dataset names resolve.
REGISTRY = {
    "synthetic_scenes": Dataset(_synthetic_info, _synthetic_builder),
}


def info(cfg: ml_collections.ConfigDict) -> DatasetInfo:
  """The tasks and classes of the dataset ``cfg.name``."""
  if cfg.name not in REGISTRY:
    raise KeyError(f"unknown dataset {cfg.name!r}; known: {', '.join(sorted(REGISTRY))}")
  return REGISTRY[cfg.name].info(cfg)


def prepare(cfg: ml_collections.ConfigDict) -> Source:
  """Builds ``cfg.name`` into ``cfg.data_dir`` if needed; returns its splits."""
  builder = REGISTRY[cfg.name].builder(cfg)
  download_config = tfds.download.DownloadConfig(manual_dir=cfg.get("manual_dir"))
  builder.download_and_prepare(download_config=download_config)
  splits = builder.as_data_source()
  shape = tuple(builder.info.features["image"].shape)
  return Source(train=splits[cfg.train_split], eval=splits[cfg.eval_split], image_shape=shape)
