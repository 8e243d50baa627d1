"""The field's training augmentations, in NumPy, on one example dict.

An example holds keys of the modality table (``mtl_jax.data.modalities``),
whose rows say how each key is treated: bilinear or nearest resize, values
divided by the zoom (depth), x negated by a flip (normals). The four of the
field::

  image         uint8   [H, W, 3]
  segmentation  int32   [H, W]      -1 = ignore
  depth         float32 [H, W]      0 = invalid
  normals       float32 [H, W, 3]   camera frame (x right, y down, z forward);
                                    all zeros = invalid

Every function takes an explicit ``np.random.Generator``, returns a new dict
with the same keys, dtypes and shapes, and leaves its input untouched (arrays
it does not change may be shared with the input).

``random_scale_crop`` is the ``RandomScaleCrop`` that the MTAN repository's
issue 34 contributed and LibMTL, Nash-MTL, FAMO and CAGrad copy for NYUv2 and
Cityscapes, reproduced operation by operation, including PyTorch's float32
index arithmetic of ``F.interpolate`` (``mtl_jax.data.interpolate``). Only the
window is resized, in float32; a scale of 1 computes nothing.
"""

from typing import Sequence

import numpy as np

from mtl_jax.data import interpolate
from mtl_jax.data import modalities


def _check_keys(example):
  unknown = set(example) - set(modalities.TABLE)
  if unknown:
    raise KeyError(f"augment knows the keys of mtl_jax.data.modalities.TABLE"
                   f" ({', '.join(modalities.TABLE)}); got also {sorted(unknown)}")


def crop_size(height: int, width: int, scale: float) -> tuple[int, int]:
  """The window ``(int(height / scale), int(width / scale))`` of a zoom by ``scale``.

  Truncated as the field's code does (not rounded): Cityscapes' 128 rows at
  scale 1.2 give a 106-row window.

  >>> crop_size(128, 256, 1.2), crop_size(288, 384, 1.5)
  ((106, 213), (192, 256))
  """
  if not scale >= 1.0:
    raise ValueError(f"scale-crop factors must be >= 1 (a zoom in); got {scale}")
  return int(height / scale), int(width / scale)


def random_scale_crop(example: dict, rng: np.random.Generator,
                      scales: Sequence[float] = (1.0, 1.2, 1.5)) -> dict:
  """Crops a random window 1/s of the size and resizes it back (the field's RandomScaleCrop).

  Draws ``s`` uniformly from ``scales``, then a window of ``(h, w) =
  crop_size(H, W, s)`` (``int``, not rounded) whose top-left corner ``(i, j)``
  is uniform over ``0..H - h`` and ``0..W - w``, and resizes the window back to
  ``(H, W)`` as the field's code does with ``F.interpolate``:

  * image and normals: bilinear, ``align_corners=True``
    (``interpolate.linear_taps``). The image is rounded (half up) back to uint8
    (the field keeps it as float in [0, 1]; rounding adds at most half a grey
    level). Normals are not renormalised: where the window blends different
    normals (or a zero, invalid one) the vector is shorter than 1, as the
    field's targets are; the normals loss uses them as they are, as MTAN's;
  * segmentation and depth: nearest neighbour (``interpolate.nearest_index``);
  * depth divided by ``s`` (float32): the zoomed view shows the scene as if
    ``s`` times closer; 0 (invalid) stays 0.

  At ``s = 1`` the window is the whole example and the resize is the identity,
  so nothing is computed (the arrays are returned as they are). (Liu et al.,
  "End-to-End Multi-Task Learning with Attention", CVPR 2019, and the
  RandomScaleCrop of github.com/lorenmt/mtan issue 34, used by Nash-MTL, FAMO,
  LibMTL and CAGrad.)

  Args:
    example: dict of arrays, keys any subset of image [H, W, 3] uint8,
      segmentation [H, W], depth [H, W], normals [H, W, 3].
    rng: source of the scale and window position (three draws).
    scales: zoom factors >= 1, drawn uniformly.

  Returns:
    A new dict, same keys, dtypes and shapes.

  A 3x4 depth map zoomed by 2: a 1x2 window (here the values 9 and 10, at
  row 2, columns 1 and 2), each pixel repeated and divided by 2:

  >>> ex = {"depth": np.arange(12, dtype=np.float32).reshape(3, 4)}
  >>> random_scale_crop(ex, np.random.default_rng(0), scales=(2.0,))["depth"].tolist()
  [[4.5, 4.5, 5.0, 5.0], [4.5, 4.5, 5.0, 5.0], [4.5, 4.5, 5.0, 5.0]]
  """
  _check_keys(example)
  if not example:
    return {}
  height, width = next(iter(example.values())).shape[:2]
  s = float(scales[rng.integers(len(scales))])
  h, w = crop_size(height, width, s)
  i = int(rng.integers(0, height - h + 1))
  j = int(rng.integers(0, width - w + 1))
  if (h, w) == (height, width):
    return dict(example)
  rows = interpolate.nearest_index(height, h)
  cols = interpolate.nearest_index(width, w)
  out = {}
  for key, value in example.items():
    modality = modalities.get(key)
    crop = value[i:i + h, j:j + w]
    if modality.resize == "bilinear":
      resized = interpolate.resize_bilinear(crop, height, width)
      if value.dtype == np.uint8:  # Rounded half up; a blend of uint8 stays in [0, 255.5).
        resized += 0.5
      resized = resized.astype(value.dtype, copy=False)
    else:
      resized = crop.take(rows, axis=0).take(cols, axis=1)
    if modality.divide_by_zoom:
      resized = resized / np.asarray(s, resized.dtype)
    out[key] = resized
  return out


def random_flip(example: dict, rng: np.random.Generator, p: float = 0.5) -> dict:
  """Flips every key horizontally with probability ``p``; negates normals' x.

  The field's flip (``torch.flip`` of the columns, ``normal[0] = -normal[0]``).
  Always draws one number from ``rng``, flipped or not; unflipped arrays are
  returned as they are.

  Args:
    example: dict of arrays, keys any subset of image [H, W, 3],
      segmentation [H, W], depth [H, W], normals [H, W, 3].
    rng: source of the coin.
    p: probability of flipping.

  Returns:
    A new dict, same keys, dtypes and shapes.

  >>> ex = {"depth": np.arange(6, dtype=np.float32).reshape(2, 3)}
  >>> random_flip(ex, np.random.default_rng(0), p=1.0)["depth"].tolist()
  [[2.0, 1.0, 0.0], [5.0, 4.0, 3.0]]
  """
  _check_keys(example)
  if not rng.random() < p:
    return dict(example)
  out = {}
  for key, value in example.items():
    flipped = value[:, ::-1].copy()
    if modalities.get(key).flip_negates_x:
      flipped[..., 0] *= -1
      flipped[..., 0] += 0.0  # Turns -0.0 into 0.0.
    out[key] = flipped
  return out
