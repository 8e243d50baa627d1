"""Datasets as tensorflow-datasets builders, and the input pipeline.

``REGISTRY`` maps ``config.dataset.name`` to the dataset's description;
``prepare(config.dataset)`` builds the dataset if needed and returns random-
access sources for its train and evaluation splits. This package imports no jax.

Registered datasets (``config.dataset`` fields each one reads besides
``data_dir``, ``manual_dir`` and the split names):

* ``synthetic_scenes``: ``height``, ``width``, ``num_train``, ``num_test``,
  ``scene_seed`` (rendered here, no download);
* ``nyuv2``: ``height``, ``width`` (the files' size; the release is 288x384);
* ``cityscapes``: ``source`` ("preprocessed": the MTAN release, whose files must
  have ``height x width``, 128x256; "official": resized to ``height x width``),
  ``num_classes`` (7 or 19).

nyuv2 and cityscapes read user-downloaded files from ``manual_dir`` (None: the
tfds default ``<data_dir>/downloads/manual``); their splits are ``train`` and
``test`` (the releases' ``val/``, which the field evaluates on).

Missing or wrong files and directories raise ``DataError`` (``errors.py``),
whose message names the file, directory or ``config.dataset`` key.
"""

from typing import Any, Callable, NamedTuple, Optional

import ml_collections
import tensorflow_datasets as tfds

from mtl_jax.data import cityscapes
from mtl_jax.data import nyuv2
from mtl_jax.data import scenes
from mtl_jax.data import synthetic_scenes
from mtl_jax.data.errors import DataDirError, DataError, LayoutError, ManualDirError


class DatasetInfo(NamedTuple):
  """What a dataset provides, known without building it."""
  tasks: tuple[str, ...]  # Ground-truth keys besides "image".
  num_classes: int
  class_names: tuple[str, ...]
  image_shape: tuple[int, int, int]  # [H, W, 3]
  splits: tuple[str, ...] = ("train", "test")


class Source(NamedTuple):
  """Random-access splits (``len(source)``, ``source[i]`` -> dict of arrays)."""
  train: Any
  eval: Any
  image_shape: tuple[int, int, int]


class Dataset(NamedTuple):
  """A registered dataset.

  ``options``: the optional ``config.dataset`` fields it reads (None = its
  default) and their allowed values; every other dataset must leave them None.
  """
  info: Callable[[ml_collections.ConfigDict], DatasetInfo]
  builder: Callable[[ml_collections.ConfigDict], Any]
  options: Optional[dict[str, tuple]] = None


def image_size(cfg: ml_collections.ConfigDict, default: tuple[int, int]) -> tuple[int, int]:
  """``(cfg.height, cfg.width)``, each None replaced by the dataset's own size.

  >>> image_size(ml_collections.ConfigDict({"height": None, "width": 64}), (288, 384))
  (288, 64)
  """
  height, width = cfg.get("height"), cfg.get("width")
  return (default[0] if height is None else int(height),
          default[1] if width is None else int(width))


def _synthetic_info(cfg) -> DatasetInfo:
  height, width = image_size(cfg, (synthetic_scenes.DEFAULT_CONFIG.height,
                                   synthetic_scenes.DEFAULT_CONFIG.width))
  return DatasetInfo(("segmentation", "depth", "normals"), scenes.NUM_CLASSES,
                     tuple(scenes.CLASS_NAMES), (height, width, 3))


def _synthetic_builder(cfg):
  height, width = _synthetic_info(cfg).image_shape[:2]
  builder_config = synthetic_scenes.make_config(
      height=height, width=width, num_train=cfg.num_train, num_test=cfg.num_test,
      seed=cfg.scene_seed)
  if builder_config is synthetic_scenes.DEFAULT_CONFIG:
    # By name: a pickled copy of a registered config (grain's worker processes
    # rebuild the builder) is refused by tfds as a clash with the registered one.
    builder_config = builder_config.name
  return synthetic_scenes.SyntheticScenes(config=builder_config, data_dir=cfg.data_dir)


def _nyuv2_info(cfg) -> DatasetInfo:
  height, width = image_size(cfg, (nyuv2.HEIGHT, nyuv2.WIDTH))
  return DatasetInfo(("segmentation", "depth", "normals"), nyuv2.NUM_CLASSES,
                     nyuv2.CLASS_NAMES, (height, width, 3))


def _nyuv2_builder(cfg):
  return nyuv2.make_builder(cfg.data_dir, *_nyuv2_info(cfg).image_shape[:2])


def cityscapes_options(cfg) -> tuple[str, int]:
  """``(source, num_classes)`` of a cityscapes config, defaults filled in."""
  source = cfg.get("source") or cityscapes.SOURCES[0]
  num_classes = cfg.get("num_classes") or 7
  return source, int(num_classes)


def _cityscapes_info(cfg) -> DatasetInfo:
  _, num_classes = cityscapes_options(cfg)
  height, width = image_size(cfg, (cityscapes.HEIGHT, cityscapes.WIDTH))
  return DatasetInfo(("segmentation", "depth"), num_classes,
                     cityscapes.CLASS_NAMES[num_classes], (height, width, 3))


def _cityscapes_builder(cfg):
  source, num_classes = cityscapes_options(cfg)
  height, width = _cityscapes_info(cfg).image_shape[:2]
  return cityscapes.make_builder(cfg.data_dir, source, num_classes, height, width)


# name -> Dataset. The one place dataset names resolve.
REGISTRY = {
    "synthetic_scenes": Dataset(_synthetic_info, _synthetic_builder),
    "nyuv2": Dataset(_nyuv2_info, _nyuv2_builder),
    "cityscapes": Dataset(_cityscapes_info, _cityscapes_builder,
                          options={"source": cityscapes.SOURCES,
                                   "num_classes": tuple(sorted(cityscapes.CLASS_NAMES))}),
}


def info(cfg: ml_collections.ConfigDict) -> DatasetInfo:
  """The tasks and classes of the dataset ``cfg.name``."""
  if cfg.name not in REGISTRY:
    raise KeyError(f"unknown dataset {cfg.name!r}; known: {', '.join(sorted(REGISTRY))}")
  return REGISTRY[cfg.name].info(cfg)


def prepare(cfg: ml_collections.ConfigDict) -> Source:
  """Builds ``cfg.name`` into ``cfg.data_dir`` if needed; returns its splits.

  Raises:
    ManualDirError: a dataset read from user-downloaded files whose manual
      directory (``config.dataset.manual_dir``) is missing or empty; the
      message says what to download and the layout expected.
    LayoutError: a user-downloaded file or directory that is wrong, named.
    DataDirError: ``config.dataset.data_dir`` cannot be written or read.
    (All three are ``DataError``s.)
  """
  builder = REGISTRY[cfg.name].builder(cfg)
  download_config = tfds.download.DownloadConfig(manual_dir=cfg.get("manual_dir"))
  try:
    builder.download_and_prepare(download_config=download_config)
    splits = builder.as_data_source()
  except FileNotFoundError as e:  # ManualDirError included.
    if not getattr(builder, "MANUAL_DOWNLOAD_INSTRUCTIONS", None):
      raise _data_dir_error(cfg, e) from e
    raise ManualDirError(
        f"config.dataset.manual_dir ({cfg.get('manual_dir') or 'None: the tfds default'}):"
        f" {e}") from e
  except DataError:
    raise
  except OSError as e:
    raise _data_dir_error(cfg, e) from e
  shape = tuple(builder.info.features["image"].shape)
  return Source(train=splits[cfg.train_split], eval=splits[cfg.eval_split], image_shape=shape)


def _data_dir_error(cfg, e: OSError) -> DataDirError:
  where = cfg.get("data_dir") or "None: the tfds default"
  return DataDirError(f"config.dataset.data_dir ({where}): preparing dataset {cfg.name!r}"
                      f" there failed: {e}")
