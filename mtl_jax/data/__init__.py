"""Datasets as tensorflow-datasets builders, and the input pipeline.

``REGISTRY`` maps ``config.dataset.name`` to the dataset's module;
``prepare(config.dataset)`` builds the dataset if needed and returns random-
access sources for its train and evaluation splits. This package imports no jax.

Each dataset module owns its info and its builder (see ``dataset``); the
ground-truth keys follow the modality table (``modalities``). Registered
datasets (``config.dataset`` fields each one reads besides ``data_dir``,
``manual_dir`` and the split names):

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

import shutil

import ml_collections
import tensorflow_datasets as tfds
from absl import logging

from mtl_jax.data import cityscapes
from mtl_jax.data import integrity
from mtl_jax.data import modalities
from mtl_jax.data import nyuv2
from mtl_jax.data import scenes
from mtl_jax.data import synthetic_scenes
from mtl_jax.data.dataset import Dataset, DatasetInfo, Source, image_size
from mtl_jax.data.errors import (BuiltDataError, DataDirError, DataError, LayoutError,
                                 ManualDirError)

# name -> the dataset's module (``info``, ``builder``, ``OPTIONS``; see ``dataset``), or a
# ``Dataset``. The one place dataset names resolve.
REGISTRY = {
    "synthetic_scenes": synthetic_scenes,
    "nyuv2": nyuv2,
    "cityscapes": cityscapes,
}


def options(name: str) -> dict[str, tuple]:
  """The optional ``config.dataset`` fields dataset ``name`` reads, and their values."""
  return getattr(REGISTRY[name], "OPTIONS", None) or {}


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
    BuiltDataError: a built shard is missing, empty or truncated (found here:
      the embedded synthetic dataset is rebuilt instead, with a warning), or a
      record of it does not read (found when it is read).
    (All are ``DataError``s.)
  """
  builder, splits = _build(cfg)
  used = (cfg.train_split, cfg.eval_split)
  problem = integrity.check(builder, used)
  if problem and getattr(REGISTRY[cfg.name], "REBUILDABLE", False):
    logging.warning("%s; rebuilding dataset %r (its examples are a function of its config)",
                    problem, cfg.name)
    shutil.rmtree(builder.data_dir)
    builder, splits = _build(cfg)
    problem = integrity.check(builder, used)
  if problem:
    raise BuiltDataError(f"{problem}; the built dataset is damaged: remove {builder.data_dir}"
                         " and rerun to rebuild it (from config.dataset.manual_dir)")
  shape = tuple(builder.info.features["image"].shape)
  return Source(train=integrity.Checked(splits[cfg.train_split], builder, cfg.train_split),
                eval=integrity.Checked(splits[cfg.eval_split], builder, cfg.eval_split),
                image_shape=shape)


def _build(cfg: ml_collections.ConfigDict):
  """``(builder, its data sources)``, built into ``cfg.data_dir`` first if needed."""
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
  return builder, splits


def _data_dir_error(cfg, e: OSError) -> DataDirError:
  where = cfg.get("data_dir") or "None: the tfds default"
  return DataDirError(f"config.dataset.data_dir ({where}): preparing dataset {cfg.name!r}"
                      f" there failed: {e}")
