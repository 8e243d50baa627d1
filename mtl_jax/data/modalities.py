"""The modality table: every ground-truth key's rules, in one place.

A modality is a per-pixel array an example carries under one key (``image``
and each task's ground truth). Its row says how it looks in a batch (dtype,
channels, the value of an invalid pixel), how the augmentations treat it
(bilinear or nearest resize in a scale-crop, divided by the zoom, x negated
by a horizontal flip), how a tfds builder stores it (PNG or a zlib tensor, and
the stored dtype), and how a ``.npy`` file of the field's preprocessed
releases is checked and converted. The input pipeline (``pipeline``), the
augmentations (``augment``), the builders and the ``.npy`` checks
(``npy_layout``) all read this table, so a new modality is one new row here
(edges was the last; docs/data.md says what else it took).

In a batch (``decode``)::

  image         uint8   [H, W, 3]
  segmentation  int32   [H, W]      -1 = ignore (stored as 255 in uint8)
  depth         float32 [H, W]      0 = invalid
  normals       float32 [H, W, 3]   camera frame (x right, y down, z forward),
                                    all zeros = invalid
  edges         int32   [H, W]      1 edge, 0 not, -1 = unknown (stored as 255)

This module imports no jax.
"""

import dataclasses
import io
from typing import Callable, Optional, Sequence

import numpy as np
from PIL import Image
import tensorflow_datasets as tfds

IMAGE_ATOL = 1e-5  # Slack on the [0, 1] range of float images (rounding error).
NORMAL_ATOL = 1e-3  # Slack on the [-1, 1] range of normal components.


class ValueCheckError(ValueError):
  """A ``.npy`` file's values are wrong; the message says how (the caller names the file)."""


@dataclasses.dataclass(frozen=True)
class Modality:
  """One ground-truth key and its rules.

  Attributes:
    key: the example and batch key.
    dtype: the dtype in a batch.
    channels: None for ``[H, W]``, C for ``[H, W, C]``.
    invalid: the value of an invalid pixel in a batch (pads evaluation batches).
    resize: how a scale-crop resizes it: "bilinear" (``align_corners=True``)
      or "nearest".
    divide_by_zoom: whether a zoom by s divides the values by s (depth: the
      zoomed view shows the scene s times closer).
    flip_negates_x: whether a horizontal flip negates the first channel
      (normals' x component).
    feature: the tfds feature: "png" (a uint8 image) or "tensor" (zlib).
    stored_dtype: the dtype a builder stores.
    stored_ignore: where the stored dtype cannot hold ``invalid`` (uint8
      labels), the stored value that means it (255).
    npy_text: what a ``.npy`` file of it holds, for layouts and errors.
    npy_float_only: whether such a file must be a float array.
    from_npy: ``(array, num_classes) -> stored array``, checking the values
      (raises ``ValueCheckError``).
  """
  key: str
  dtype: np.dtype
  channels: Optional[int]
  invalid: float
  resize: str
  divide_by_zoom: bool
  flip_negates_x: bool
  feature: str
  stored_dtype: np.dtype
  stored_ignore: Optional[int]
  npy_text: str
  npy_float_only: bool
  from_npy: Callable[[np.ndarray, int], np.ndarray]

  def shape(self, height: int, width: int) -> tuple[int, ...]:
    """The per-example shape ``[H, W]`` or ``[H, W, C]``."""
    return (height, width) if self.channels is None else (height, width, self.channels)


def _check_finite(x: np.ndarray) -> None:
  bad = ~np.isfinite(x)
  if np.any(bad):
    what = "NaN" if np.any(np.isnan(x)) else "infinite"
    where = tuple(int(v) for v in np.argwhere(bad)[0])
    raise ValueCheckError(f"{int(bad.sum())} {what} value(s) (first at {where})")


def _image_from_npy(x: np.ndarray, num_classes: int) -> np.ndarray:
  """Floats in [0, 1] -> uint8 ``round(255 x)``."""
  del num_classes
  _check_finite(x)
  lo, hi = float(x.min()), float(x.max())
  if lo < -IMAGE_ATOL or hi > 1 + IMAGE_ATOL:
    raise ValueCheckError(f"image values in [{lo}, {hi}], expected [0, 1]")
  return np.round(255.0 * np.clip(x.astype(np.float64), 0.0, 1.0)).astype(np.uint8)


def _labels_from_npy(x: np.ndarray, num_classes: int) -> np.ndarray:
  """Class ids in [-1, C) -> uint8 with -1 stored as 255."""
  if x.dtype.kind == "f":
    _check_finite(x)
    if np.any(x != np.round(x)):
      raise ValueCheckError("non-integer label values")
  x = x.astype(np.int64)
  bad = (x < -1) | (x >= num_classes)
  if np.any(bad):
    raise ValueCheckError(f"label values {sorted(set(np.unique(x[bad]).tolist()))[:5]}"
                          f" outside [-1, {num_classes}) ({num_classes} classes, -1 = ignore)")
  return np.where(x < 0, 255, x).astype(np.uint8)


def _edges_from_npy(x: np.ndarray, num_classes: int) -> np.ndarray:
  """0/1 edge labels (-1 = unknown) -> uint8 with -1 stored as 255."""
  del num_classes
  return _labels_from_npy(x, 2)


def _depth_from_npy(x: np.ndarray, num_classes: int) -> np.ndarray:
  """Finite, >= 0 -> float32 ``[H, W]`` (a trailing channel of 1 dropped)."""
  del num_classes
  _check_finite(x)
  if np.any(x < 0):
    raise ValueCheckError(f"negative depth {float(x.min())}; expected >= 0 (0 = invalid)")
  return x.reshape(x.shape[:2]).astype(np.float32)


def _normals_from_npy(x: np.ndarray, num_classes: int) -> np.ndarray:
  """Finite components in [-1, 1] -> float32."""
  del num_classes
  _check_finite(x)
  if np.any(np.abs(x) > 1 + NORMAL_ATOL):
    raise ValueCheckError(f"normal components up to {float(np.abs(x).max())}, expected within"
                          " [-1, 1]")
  return x.astype(np.float32)


TABLE = {m.key: m for m in (
    Modality("image", np.dtype(np.uint8), 3, invalid=0, resize="bilinear",
             divide_by_zoom=False, flip_negates_x=False, feature="png",
             stored_dtype=np.dtype(np.uint8), stored_ignore=None,
             npy_text="float in [0, 1]", npy_float_only=True, from_npy=_image_from_npy),
    Modality("segmentation", np.dtype(np.int32), None, invalid=-1, resize="nearest",
             divide_by_zoom=False, flip_negates_x=False, feature="tensor",
             stored_dtype=np.dtype(np.uint8), stored_ignore=255,
             npy_text="class ids, -1 = ignore", npy_float_only=False,
             from_npy=_labels_from_npy),
    Modality("depth", np.dtype(np.float32), None, invalid=0.0, resize="nearest",
             divide_by_zoom=True, flip_negates_x=False, feature="tensor",
             stored_dtype=np.dtype(np.float32), stored_ignore=None,
             npy_text="float >= 0, 0 = invalid", npy_float_only=True,
             from_npy=_depth_from_npy),
    Modality("normals", np.dtype(np.float32), 3, invalid=0.0, resize="bilinear",
             divide_by_zoom=False, flip_negates_x=True, feature="tensor",
             stored_dtype=np.dtype(np.float32), stored_ignore=None,
             npy_text="float in [-1, 1], zeros = invalid", npy_float_only=True,
             from_npy=_normals_from_npy),
    Modality("edges", np.dtype(np.int32), None, invalid=-1, resize="nearest",
             divide_by_zoom=False, flip_negates_x=False, feature="tensor",
             stored_dtype=np.dtype(np.uint8), stored_ignore=255,
             npy_text="0/1 edge labels, -1 = unknown", npy_float_only=False,
             from_npy=_edges_from_npy),
)}


def get(key: str) -> Modality:
  """The row of ``key``; a clear error for a key the table lacks.

  >>> get("depth").invalid, get("normals").resize
  (0.0, 'bilinear')
  """
  if key not in TABLE:
    raise KeyError(f"no modality {key!r} in mtl_jax.data.modalities.TABLE; known:"
                   f" {', '.join(TABLE)}")
  return TABLE[key]


def features(keys: Sequence[str], height: int, width: int) -> tfds.features.FeaturesDict:
  """The tfds features of examples holding ``keys`` at ``height x width``."""
  out = {}
  for key in keys:
    m = get(key)
    shape = m.shape(height, width)
    if m.feature == "png":
      out[key] = tfds.features.Image(shape=shape, encoding_format="png")
    else:
      out[key] = tfds.features.Tensor(shape=shape, dtype=m.stored_dtype,
                                      encoding=tfds.features.Encoding.ZLIB)
  return tfds.features.FeaturesDict(out)


def encode(example: dict) -> dict:
  """An example of stored arrays as a builder yields it: PNG bytes for "png" features."""
  out = {}
  for key, value in example.items():
    if get(key).feature == "png":
      buf = io.BytesIO()
      Image.fromarray(np.asarray(value)).save(buf, format="PNG", compress_level=1)
      value = buf.getvalue()
    out[key] = value
  return out


def decode(example: dict, keys: Sequence[str]) -> dict:
  """A stored example (``builder.as_data_source()[i]``) as the arrays a batch holds.

  >>> decode({"segmentation": np.array([[0, 255]], np.uint8)}, ["segmentation"])
  {'segmentation': array([[ 0, -1]], dtype=int32)}
  """
  out = {}
  for key in keys:
    if key not in example:
      raise KeyError(f"example has no {key!r}; it has {sorted(example)}")
    m = get(key)
    value = np.asarray(example[key])
    if m.channels is None and value.ndim == 3:
      value = value[..., 0]
    if m.stored_ignore is not None and value.dtype == m.stored_dtype:
      value = np.where(value == m.stored_ignore, m.invalid, value.astype(m.dtype))
    out[key] = value.astype(m.dtype, copy=False)
  return out
