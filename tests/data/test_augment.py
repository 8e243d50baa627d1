"""Random scale-crop and flip against NumPy references of the field's RandomScaleCrop.

The reference (MTAN issue 34, as LibMTL, Nash-MTL and FAMO copy it): scale s
uniform from the list; window ``int(H / s) x int(W / s)`` at a uniform offset
``i in 0..H - h``, ``j in 0..W - w``; ``F.interpolate`` back to ``(H, W)``:
bilinear with ``align_corners=True`` for image and normals, ``'nearest'``
(source ``floor(r * h / H)``) for labels and depth; depth divided by s. The
references below are written per pixel in float64, independently of the code.
"""

import math

import numpy as np
import pytest

from mtl_jax.data import augment

# 10 / 1.2 = 8.33 and 14 / 1.2 = 11.67, 10 / 1.5 = 6.67: int() and round() differ.
H, W = 10, 14


def _example(seed=0):
  rng = np.random.default_rng(seed)
  normals = rng.normal(size=(H, W, 3))
  normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
  normals[0, :3] = 0.0  # A few invalid normals.
  depth = rng.uniform(0.5, 10.0, size=(H, W)).astype(np.float32)
  depth[1, 1] = 0.0  # An invalid depth.
  return {
      "image": rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8),
      # Unique per pixel, so the output tells which source pixel it came from.
      "segmentation": np.arange(H * W, dtype=np.int32).reshape(H, W) - 1,
      "depth": depth,
      "normals": normals.astype(np.float32),
  }


def _bilinear_reference(x, out_h, out_w):
  """align_corners=True bilinear, one output pixel at a time, in float64."""
  h, w = x.shape[:2]
  out = np.zeros((out_h, out_w) + x.shape[2:])
  for r in range(out_h):
    y = r * (h - 1) / (out_h - 1)
    y0 = min(math.floor(y), h - 1)
    y1, fy = min(y0 + 1, h - 1), y - y0
    for c in range(out_w):
      u = c * (w - 1) / (out_w - 1)
      x0 = min(math.floor(u), w - 1)
      x1, fx = min(x0 + 1, w - 1), u - x0
      top = (1 - fx) * x[y0, x0].astype(float) + fx * x[y0, x1]
      bottom = (1 - fx) * x[y1, x0].astype(float) + fx * x[y1, x1]
      out[r, c] = (1 - fy) * top + fy * bottom
  return out


def test_crop_size_truncates_like_the_field():
  assert augment.crop_size(128, 256, 1.2) == (106, 213)  # round() would give 107 rows.
  assert augment.crop_size(288, 384, 1.2) == (240, 320)
  assert augment.crop_size(288, 384, 1.5) == (192, 256)
  assert augment.crop_size(H, W, 1.2) == (8, 11) and augment.crop_size(H, W, 1.5) == (6, 9)
  assert augment.crop_size(H, W, 1.0) == (H, W)
  with pytest.raises(ValueError, match="0.9"):
    augment.crop_size(H, W, 0.9)


@pytest.mark.parametrize("scale", [1.2, 1.5])
def test_scale_crop_against_the_field(scale):
  ex = _example()
  h, w = int(H / scale), int(W / scale)
  v, u = np.mgrid[0:H, 0:W]
  offsets = set()
  for seed in range(60):
    out = augment.random_scale_crop(ex, np.random.default_rng(seed), scales=(scale,))
    assert {k: (a.dtype, a.shape) for k, a in out.items()} == {
        k: (a.dtype, a.shape) for k, a in ex.items()}
    # Segmentation ids are flat source indices (+1): recover the source pixel.
    src = out["segmentation"] + 1
    rows, cols = src // W, src % W
    i, j = int(rows[0, 0]), int(cols[0, 0])
    offsets.add((i, j))
    np.testing.assert_array_equal(rows, i + v * h // H)
    np.testing.assert_array_equal(cols, j + u * w // W)
    # Depth: the same nearest source pixel, divided by the scale (0 stays 0).
    np.testing.assert_array_equal(out["depth"], ex["depth"][rows, cols] / np.float32(scale))
    if seed < 4:  # The per-pixel references are slow; a few windows suffice.
      window = (slice(i, i + h), slice(j, j + w))
      # Normals: bilinear, not renormalised (zero neighbours shorten the blend).
      want = _bilinear_reference(ex["normals"][window], H, W)
      np.testing.assert_allclose(out["normals"], want, atol=2e-6)
      # Image: the bilinear value rounded to uint8 (ties within 1e-3 either way).
      want = _bilinear_reference(ex["image"][window], H, W)
      got = out["image"].astype(float)
      near_tie = np.abs(want - np.floor(want) - 0.5) < 1e-3
      np.testing.assert_array_equal(np.where(near_tie, 0, got - np.floor(want + 0.5)), 0)
      assert np.all(np.abs(got - want) <= 0.5 + 1e-3)
  # Offsets are uniform over 0..H - h and 0..W - w, both ends included.
  assert {i for i, _ in offsets} == set(range(H - h + 1))
  assert {j for _, j in offsets} == set(range(W - w + 1))


def test_scales_drawn_uniformly_and_one_is_the_identity():
  ex = _example(1)
  rng = np.random.default_rng(0)
  heights = []
  for _ in range(300):
    out = augment.random_scale_crop(ex, rng)  # Scales 1.0, 1.2, 1.5.
    rows = (out["segmentation"] + 1) // W
    heights.append(int(np.unique(rows).size))
    if heights[-1] == H:
      for key in ex:
        np.testing.assert_array_equal(out[key], ex[key])
  counts = [heights.count(n) for n in (H, 8, 6)]
  assert sum(counts) == 300 and min(counts) > 70, counts


def test_scale_crop_image_ramp():
  # A 4x6 ramp zoomed by 2 at a known window: align_corners maps output column
  # c to source column j + c * 2 / 5, so a ramp 10 u reads 10 (j + 0.4 c).
  ramp = np.broadcast_to(10 * np.arange(6, dtype=np.uint8)[None, :, None], (4, 6, 3))
  out = augment.random_scale_crop({"image": ramp}, np.random.default_rng(3), scales=(2.0,))
  j = int(out["image"][0, 0, 0]) // 10
  assert 0 <= j <= 3
  np.testing.assert_array_equal(out["image"][2, :, 1],
                                np.floor(10 * (j + 0.4 * np.arange(6)) + 0.5).astype(np.uint8))


def test_flip_twice_is_identity_and_flip_negates_normal_x():
  ex = _example()
  once = augment.random_flip(ex, np.random.default_rng(0), p=1.0)
  np.testing.assert_array_equal(once["image"], ex["image"][:, ::-1])
  np.testing.assert_array_equal(once["depth"], ex["depth"][:, ::-1])
  np.testing.assert_array_equal(once["segmentation"], ex["segmentation"][:, ::-1])
  np.testing.assert_array_equal(once["normals"][..., 0], -ex["normals"][:, ::-1, 0])
  np.testing.assert_array_equal(once["normals"][..., 1:], ex["normals"][:, ::-1, 1:])
  assert not np.signbit(once["normals"][0, -1, 0])  # An invalid normal stays +0.
  twice = augment.random_flip(once, np.random.default_rng(1), p=1.0)
  for key in ex:
    assert twice[key].dtype == ex[key].dtype
    np.testing.assert_array_equal(twice[key], ex[key])


def test_flip_probability():
  ex = {"depth": np.arange(W, dtype=np.float32)[None].repeat(2, 0)}
  rng = np.random.default_rng(0)
  flips = [augment.random_flip(ex, rng)["depth"][0, 0] != 0 for _ in range(400)]
  assert 0.4 < np.mean(flips) < 0.6
  np.testing.assert_array_equal(augment.random_flip(ex, rng, p=0.0)["depth"], ex["depth"])


def test_inputs_untouched_and_unknown_key_rejected():
  ex = _example()
  copy = {k: v.copy() for k, v in ex.items()}
  for seed in range(5):
    augment.random_flip(augment.random_scale_crop(ex, np.random.default_rng(seed)),
                        np.random.default_rng(seed), p=1.0)
  for key in ex:
    np.testing.assert_array_equal(ex[key], copy[key])
  with pytest.raises(KeyError, match="mask"):
    augment.random_flip({"mask": np.zeros((2, 2))}, np.random.default_rng(0))
