"""The sampling of PyTorch's ``F.interpolate`` (CPU), in NumPy float32.

The field's augmentation (MTAN's RandomScaleCrop, see ``augment``) resizes with
``F.interpolate``: ``mode='nearest'`` for labels and depth, ``mode='bilinear',
align_corners=True`` for images and normals. These functions reproduce where
each output pixel samples its source, with PyTorch's float32 arithmetic, and
resize separably (columns, then rows, as PyTorch's kernel associates the
blend). The taps of each (output size, input size) pair are computed once per
process (few sizes occur: one per scale and axis) and returned read-only.

PIL's C resize (with a box giving the same sampling positions) was measured as
an alternative and not taken: it rounds 8-bit images to integers between its two
passes (a fifth of the pixels one grey level off the field's float result) and
was no faster on float normals.
"""

import functools

import numpy as np


@functools.lru_cache(maxsize=64)
def nearest_index(out_size: int, in_size: int) -> np.ndarray:
  """Source index of each output index, as PyTorch's ``mode='nearest'`` on CPU.

  ``min(floor(float32(i) * float32(in / out)), in - 1)`` in float32 (the
  identity when ``out == in``, ``i // 2`` when ``out == 2 in``). Returns
  int64 ``[out_size]``, read-only.

  >>> nearest_index(5, 3).tolist()
  [0, 0, 1, 1, 2]
  """
  if out_size == in_size:
    index = np.arange(out_size)
  elif out_size == 2 * in_size:
    index = np.arange(out_size) // 2
  else:
    ratio = np.float32(in_size) / np.float32(out_size)
    index = np.floor(np.arange(out_size, dtype=np.float32) * ratio).astype(np.int64)
    index = np.minimum(index, in_size - 1)
  index.flags.writeable = False
  return index


@functools.lru_cache(maxsize=64)
def linear_taps(out_size: int, in_size: int):
  """``(lo, hi, w_hi)`` of PyTorch's ``mode='bilinear', align_corners=True`` (CPU).

  Output index ``i`` reads source position ``p = float32(i) * float32((in - 1)
  / (out - 1))`` (float32), ``lo = min(int(p), in - 1)``, ``hi = lo + 1``
  (``lo`` at the last index) and ``w_hi = clip(p - lo, 0, 1)``; the value is
  ``(1 - w_hi) x[lo] + w_hi x[hi]``. Arrays ``[out_size]``, read-only.

  >>> lo, hi, w = linear_taps(5, 3)
  >>> lo.tolist(), hi.tolist(), w.tolist()
  ([0, 0, 1, 1, 2], [1, 1, 2, 2, 2], [0.0, 0.5, 0.0, 0.5, 0.0])
  """
  if out_size == in_size:
    lo = np.arange(out_size)
    w_hi = np.zeros(out_size, np.float32)
  else:
    ratio = np.float32(in_size - 1) / np.float32(out_size - 1) if out_size > 1 else 0.0
    pos = np.arange(out_size, dtype=np.float32) * np.float32(ratio)
    lo = np.minimum(pos.astype(np.int64), in_size - 1)
    w_hi = np.clip(pos - lo.astype(np.float32), 0.0, 1.0).astype(np.float32)
  hi = lo + (lo < in_size - 1)
  for a in (lo, hi, w_hi):
    a.flags.writeable = False
  return lo, hi, w_hi


def resize_bilinear(x: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
  """``x`` [h, w, C] resized to float32 [out_h, out_w, C] (``align_corners=True``).

  Separable: each source row is interpolated along the columns, then the
  output rows blend two of those, with ``linear_taps``' indices and weights.

  >>> resize_bilinear(np.array([[[0.0], [3.0]]]), 1, 4)[0, :, 0].tolist()
  [0.0, 1.0, 2.0, 3.0]
  """
  y0, y1, wy = linear_taps(out_h, x.shape[0])
  x0, x1, wx = linear_taps(out_w, x.shape[1])
  wx = wx[:, None]
  cols = np.multiply(x.take(x0, axis=1), 1.0 - wx, dtype=np.float32)  # [h, out_w, C]
  cols += np.multiply(x.take(x1, axis=1), wx, dtype=np.float32)
  wy = wy[:, None, None]
  out = cols.take(y0, axis=0)
  out *= 1.0 - wy
  below = cols.take(y1, axis=0)
  below *= wy
  out += below
  return out
