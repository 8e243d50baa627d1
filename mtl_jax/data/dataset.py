"""What a registered dataset is: its info (known without building it), its builder, its options.

A dataset module (``synthetic_scenes``, ``nyuv2``, ``cityscapes``) provides

* ``info(cfg) -> DatasetInfo``: its tasks, classes, image shape and splits for
  ``config.dataset`` (``cfg``), without building anything;
* ``builder(cfg)``: its tensorflow-datasets builder for ``cfg``;
* ``OPTIONS``: the optional ``config.dataset`` fields it reads and their
  allowed values (``{}`` for none); every other dataset must leave them None.

``mtl_jax.data.REGISTRY`` maps each name to such a module (or to a ``Dataset``
holding the three, for a dataset defined elsewhere).
"""

from typing import Any, Callable, NamedTuple, Optional

import ml_collections


class DatasetInfo(NamedTuple):
  """What a dataset provides, known without building it."""
  tasks: tuple[str, ...]  # Ground-truth keys besides "image" (keys of modalities.TABLE).
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
  """A dataset defined outside a module of its own (the registry also takes modules).

  ``OPTIONS``: the optional ``config.dataset`` fields it reads (None = its
  default) and their allowed values.
  """
  info: Callable[[ml_collections.ConfigDict], DatasetInfo]
  builder: Callable[[ml_collections.ConfigDict], Any]
  OPTIONS: Optional[dict[str, tuple]] = None


def image_size(cfg: ml_collections.ConfigDict, default: tuple[int, int]) -> tuple[int, int]:
  """``(cfg.height, cfg.width)``, each None replaced by the dataset's own size.

  >>> image_size(ml_collections.ConfigDict({"height": None, "width": 64}), (288, 384))
  (288, 64)
  """
  height, width = cfg.get("height"), cfg.get("width")
  return (default[0] if height is None else int(height),
          default[1] if width is None else int(width))
