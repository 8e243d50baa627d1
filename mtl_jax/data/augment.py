"""The field's training augmentations, in NumPy, on one example dict.

An example holds any subset of these keys (no others)::

  image         uint8   [H, W, 3]
  segmentation  int32   [H, W]      -1 = ignore
  depth         float32 [H, W]      0 = invalid
  normals       float32 [H, W, 3]   unit, camera frame (x right, y down,
                                    z forward); all zeros = invalid

Every function takes an explicit ``np.random.Generator``, returns a new dict
with the same keys, dtypes and shapes, and leaves its input untouched.
"""

from typing import Sequence

import numpy as np

_KEYS = ("image", "segmentation", "depth", "normals")


def _check_keys(example):
  unknown = set(example) - set(_KEYS)
  if unknown:
    raise KeyError(f"augment knows the keys {_KEYS}; got also {sorted(unknown)}")


def _nearest_index(out_size, in_size):
  """PyTorch ``mode='nearest'``: source index ``floor(i * in / out)``."""
  return np.minimum((np.arange(out_size) * in_size) // out_size, in_size - 1)


def _linear_taps(out_size, in_size):
  """Indices and weights of ``align_corners=True`` linear interpolation."""
  if out_size == 1 or in_size == 1:
    pos = np.zeros(out_size)
  else:
    pos = np.arange(out_size) * ((in_size - 1) / (out_size - 1))
  lo = np.minimum(np.floor(pos).astype(np.int64), in_size - 1)
  hi = np.minimum(lo + 1, in_size - 1)
  return lo, hi, pos - lo


def _bilinear(x, out_h, out_w):
  """Bilinear resize (align_corners=True) of ``x`` [h, w, C] in float64."""
  x = x.astype(np.float64)
  y0, y1, wy = _linear_taps(out_h, x.shape[0])
  x0, x1, wx = _linear_taps(out_w, x.shape[1])
  rows = x[y0] * (1.0 - wy)[:, None, None] + x[y1] * wy[:, None, None]
  return rows[:, x0] * (1.0 - wx)[None, :, None] + rows[:, x1] * wx[None, :, None]


def random_scale_crop(example: dict, rng: np.random.Generator,
                      scales: Sequence[float] = (1.0, 1.2, 1.5)) -> dict:
  """Crops a random window 1/s of the size and resizes it back (MTAN's RandomScaleCrop).

  Picks ``s`` uniformly from ``scales``, a window of ``(round(H / s),
  round(W / s))`` at a uniformly random position, and resizes it to ``(H, W)``:
  image and normals bilinearly (``align_corners=True``, as in MTAN and
  Auto-Lambda), segmentation and depth by nearest neighbour (PyTorch's
  ``'nearest'``: source index ``floor(i * h / H)``). Depth is divided by ``s``:
  the zoomed view shows the scene as if ``s`` times closer. Normals are
  renormalised to unit length; an output normal is invalid (zero) exactly where
  its nearest source normal is invalid, and where valid neighbours cancel out
  it takes the nearest source normal. (Liu et al., "End-to-End Multi-Task
  Learning with Attention", CVPR 2019; Liu et al., "Auto-Lambda", TMLR 2022.)

  Args:
    example: dict of arrays, keys any subset of image [H, W, 3] uint8,
      segmentation [H, W], depth [H, W], normals [H, W, 3].
    rng: source of the scale and window position.
    scales: zoom factors >= 1, drawn uniformly.

  Returns:
    A new dict, same keys, dtypes and shapes.

  Example::

    rng = np.random.default_rng(0)
    ex = {"image": np.zeros((96, 128, 3), np.uint8),
          "depth": np.ones((96, 128), np.float32)}
    out = random_scale_crop(ex, rng, scales=(2.0,))
    out["depth"][0, 0]  # 0.5
  """
  _check_keys(example)
  if not example:
    return {}
  h, w = next(iter(example.values())).shape[:2]
  s = float(scales[rng.integers(len(scales))])
  ch = int(min(max(round(h / s), 1), h))
  cw = int(min(max(round(w / s), 1), w))
  i = int(rng.integers(0, h - ch + 1))
  j = int(rng.integers(0, w - cw + 1))
  rows, cols = _nearest_index(h, ch) + i, _nearest_index(w, cw) + j
  out = {}
  for key, value in example.items():
    crop = value[i:i + ch, j:j + cw]
    if key == "image":
      resized = _bilinear(crop, h, w)
      out[key] = np.clip(np.round(resized), 0, 255).astype(value.dtype)
    elif key == "segmentation":
      out[key] = value[rows[:, None], cols[None, :]]
    elif key == "depth":
      out[key] = (value[rows[:, None], cols[None, :]] / s).astype(value.dtype)
    else:  # normals
      nearest = value[rows[:, None], cols[None, :]].astype(np.float64)
      valid = np.any(nearest != 0, axis=-1, keepdims=True)
      n = _bilinear(crop, h, w)
      norm = np.linalg.norm(n, axis=-1, keepdims=True)
      n = np.where(norm > 1e-6, n / np.maximum(norm, 1e-12), nearest)
      out[key] = np.where(valid, n, 0.0).astype(value.dtype)
  return out


def random_flip(example: dict, rng: np.random.Generator, p: float = 0.5) -> dict:
  """Flips every key horizontally with probability ``p``; negates normals' x.

  Always draws one number from ``rng``, flipped or not.

  Args:
    example: dict of arrays, keys any subset of image [H, W, 3],
      segmentation [H, W], depth [H, W], normals [H, W, 3].
    rng: source of the coin.
    p: probability of flipping.

  Returns:
    A new dict, same keys, dtypes and shapes.

  Example::

    ex = {"depth": np.arange(6, dtype=np.float32).reshape(2, 3)}
    random_flip(ex, np.random.default_rng(0), p=1.0)["depth"]
    # [[2, 1, 0], [5, 4, 3]]
  """
  _check_keys(example)
  flip = rng.random() < p
  out = {}
  for key, value in example.items():
    if not flip:
      out[key] = value.copy()
      continue
    flipped = value[:, ::-1].copy()
    if key == "normals":
      flipped[..., 0] = -flipped[..., 0] + 0.0  # + 0.0 turns -0.0 into 0.0.
    out[key] = flipped
  return out
