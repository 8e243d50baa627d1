"""Runs a reproduction config for two training steps and one evaluation on fabricated files.

``shrink`` keeps everything of a config (model, balancer, tasks, schedule kind,
dataset kind and source) but what makes it slow: image size, network widths and blocks
per stage, batch sizes, input worker processes, and the schedule's length (two steps).
``fabricate`` writes tiny files in the release layout the config's dataset reads.
"""

import dataclasses
import json
import os

import numpy as np
from PIL import Image

from mtl_jax import build
from mtl_jax import epochs
from mtl_jax import models
from mtl_jax import schema
from tests.data import manual_files

TRAIN_EXAMPLES, VAL_EXAMPLES = 16, 8
BATCH = 8  # One example per simulated device.
STEPS = 2  # ceil(16 / 8): one epoch.
WIDTHS = (4, 8)  # Channels of the first two stages; later stages keep 8.
# Every field shrink may change; everything else must stay as the config says.
SHRUNK = {"dataset.height", "dataset.width", "dataset.data_dir", "dataset.manual_dir",
          "input.batch_size", "input.eval_batch_size", "input.worker_count",
          "model.kwargs.widths", "model.kwargs.decoder_widths", "model.kwargs.decoder_width",
          "model.kwargs.depths",
          "schedule.num_steps",
          "schedule.num_epochs"}


def image_size(config) -> tuple[int, int]:
  """The smallest size a network with ``len(widths)`` halving stages takes, at the
  dataset's aspect (NYUv2 1:1 here, Cityscapes 1:2)."""
  stages = len(config.model.kwargs.get("widths", (0, 0)))
  height = max(16, 2 ** (stages - 1))
  return height, height * (2 if config.dataset.name == "cityscapes" else 1)


def _tiny_widths(config) -> None:
  """Tiny channels (encoder and decoders), one block per stage, and the fewest stages (from two up) the network runs with.

  Compile time grows with the stages and blocks; a network that needs more
  stages than two (as ``build.experiment`` finds, tracing only) gets more.
  """
  if "widths" not in config.model.kwargs:
    return
  stages = len(config.model.kwargs.widths)
  with_depths = "depths" in [f.name for f in dataclasses.fields(
      models.REGISTRY[config.model.name])]
  for n in range(min(2, stages), stages + 1):
    config.model.kwargs.widths = tuple(WIDTHS[min(i, len(WIDTHS) - 1)] for i in range(n))
    if "decoder_widths" in config.model.kwargs:
      config.model.kwargs.decoder_widths = config.model.kwargs.widths
    if "decoder_width" in config.model.kwargs:
      config.model.kwargs.decoder_width = WIDTHS[-1]
    if with_depths:
      config.model.kwargs.depths = (1,) * n
    config.dataset.height, config.dataset.width = image_size(config)
    try:
      build.experiment(config, with_data=False)  # Traces the network at the image size.
      return
    except schema.ConfigError:
      if n == stages:
        raise


def shrink(config, data_dir: str):
  """A copy of ``config`` for a two-step run on fabricated files (see ``SHRUNK``).

  ``dataset.manual_dir`` is left for the caller (``fabricate`` at the size
  chosen here).
  """
  config = config.copy_and_resolve_references()
  config.dataset.data_dir = data_dir
  config.input.batch_size = config.input.eval_batch_size = BATCH
  config.input.worker_count = 0
  config.dataset.height, config.dataset.width = image_size(config)
  _tiny_widths(config)
  if config.schedule.get("num_epochs") is not None:
    config.schedule.num_epochs = STEPS / epochs.steps_per_epoch(TRAIN_EXAMPLES, BATCH)
  else:
    config.schedule.num_steps = STEPS
  return config


def flat(config) -> dict:
  """``{"section.field": value}`` of a config, for comparing two of them."""
  out = {}
  for key, value in config.items():
    if hasattr(value, "items"):
      out.update({f"{key}.{k}": v for k, v in flat(value).items()})
    else:
      out[key] = value
  return out


def fabricate(dataset, root: str) -> None:
  """Writes tiny files of ``config.dataset`` (name, source, size) under ``root``."""
  h, w = dataset.height, dataset.width
  sizes = {"train": TRAIN_EXAMPLES, "val": VAL_EXAMPLES}
  if dataset.name == "nyuv2":
    spec = {"image": ("image", (h, w, 3), 0), "label": ("label", (h, w), 13),
            "depth": ("depth", (h, w, 1), 0), "normal": ("normal", (h, w, 3), 0)}
    manual_files.write_npy_layout(root, spec, sizes)
  elif dataset.name == "cityscapes" and (dataset.source or "preprocessed") == "preprocessed":
    spec = {"image": ("image", (h, w, 3), 0), "label_7": ("label", (h, w), 7),
            "label_19": ("label", (h, w), 19), "depth": ("depth", (h, w, 1), 0)}
    manual_files.write_npy_layout(root, spec, sizes)
  elif dataset.name == "cityscapes":
    _official(root, h, w, sizes)
  else:
    raise ValueError(f"no fabricated files for dataset {dataset.name!r}")


def _official(root, h, w, sizes):
  """The official layout: an image, labelIds, disparity and camera file per frame."""
  rng = np.random.default_rng(0)
  for split, n in sizes.items():
    city = f"city{split}"
    for frame in range(n):
      stem = os.path.join(city, f"{city}_000000_{frame:06d}")
      files = {"leftImg8bit": (rng.integers(0, 256, (h, w, 3), dtype=np.uint8), ".png"),
               "gtFine": (rng.integers(0, 34, (h, w)).astype(np.uint8), ".png"),
               "disparity": (rng.integers(0, 30000, (h, w)).astype(np.uint16), ".png")}
      suffix = {"leftImg8bit": "_leftImg8bit", "gtFine": "_gtFine_labelIds",
                "disparity": "_disparity"}
      for top, (array, ext) in files.items():
        path = os.path.join(root, top, split, stem + suffix[top] + ext)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        Image.fromarray(array).save(path)
      path = os.path.join(root, "camera", split, stem + "_camera.json")
      os.makedirs(os.path.dirname(path), exist_ok=True)
      with open(path, "w") as f:
        json.dump({"extrinsic": {"baseline": 0.21}, "intrinsic": {"fx": 2262.5}}, f)
