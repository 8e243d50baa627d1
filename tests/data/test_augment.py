"""Random scale-crop and flip on hand-made examples."""

import numpy as np
import pytest

from mtl_jax.data import augment

H, W = 12, 16


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


def _assert_same_structure(a, b):
  assert set(a) == set(b)
  for key in a:
    assert a[key].dtype == b[key].dtype and a[key].shape == b[key].shape, key


def test_flip_twice_is_identity_and_flip_negates_normal_x():
  ex = _example()
  once = augment.random_flip(ex, np.random.default_rng(0), p=1.0)
  _assert_same_structure(once, ex)
  np.testing.assert_array_equal(once["image"], ex["image"][:, ::-1])
  np.testing.assert_array_equal(once["depth"], ex["depth"][:, ::-1])
  np.testing.assert_array_equal(once["segmentation"], ex["segmentation"][:, ::-1])
  np.testing.assert_array_equal(once["normals"][..., 0], -ex["normals"][:, ::-1, 0])
  np.testing.assert_array_equal(once["normals"][..., 1:], ex["normals"][:, ::-1, 1:])
  twice = augment.random_flip(once, np.random.default_rng(1), p=1.0)
  for key in ex:
    np.testing.assert_array_equal(twice[key], ex[key])


def test_flip_probability():
  ex = {"depth": np.arange(W, dtype=np.float32)[None].repeat(2, 0)}
  rng = np.random.default_rng(0)
  flips = [augment.random_flip(ex, rng)["depth"][0, 0] != 0 for _ in range(400)]
  assert 0.4 < np.mean(flips) < 0.6
  np.testing.assert_array_equal(augment.random_flip(ex, rng, p=0.0)["depth"], ex["depth"])


def test_scale_one_is_identity():
  ex = _example()
  out = augment.random_scale_crop(ex, np.random.default_rng(0), scales=(1.0,))
  _assert_same_structure(out, ex)
  for key in ("image", "segmentation", "depth"):
    np.testing.assert_array_equal(out[key], ex[key])
  np.testing.assert_allclose(out["normals"], ex["normals"], atol=1e-7)


@pytest.mark.parametrize("scale", [1.2, 1.5, 2.0])
def test_scale_crop_nearest_depth_and_bilinear_image(scale):
  ex = _example()
  v, u = np.mgrid[0:H, 0:W]
  ex["image"] = np.stack([10 * u, 20 * v, 5 * u + 3 * v], -1).astype(np.uint8)
  for seed in range(5):
    out = augment.random_scale_crop(ex, np.random.default_rng(seed), scales=(scale,))
    _assert_same_structure(out, ex)
    ch, cw = round(H / scale), round(W / scale)
    # Segmentation ids are flat source indices (+1): recover the source pixel.
    src = out["segmentation"] + 1
    rows, cols = src // W, src % W
    i, j = rows[0, 0], cols[0, 0]
    assert 0 <= i <= H - ch and 0 <= j <= W - cw
    np.testing.assert_array_equal(rows, i + np.floor(v * ch / H).astype(int))
    np.testing.assert_array_equal(cols, j + np.floor(u * cw / W).astype(int))
    # Depth: the same nearest source pixel, divided by the scale (0 stays 0).
    want = ex["depth"][rows, cols] / np.float32(scale)
    np.testing.assert_array_equal(out["depth"], want)
    # Bilinear (align_corners=True) reproduces a linear ramp exactly.
    y = i + v * (ch - 1) / (H - 1)
    x = j + u * (cw - 1) / (W - 1)
    ramp = np.stack([10 * x, 20 * y, 5 * x + 3 * y], -1)
    np.testing.assert_array_equal(out["image"], np.round(ramp).astype(np.uint8))


def test_scale_crop_normals_unit_or_zero_and_labels_from_source():
  ex = _example(1)
  for seed in range(10):
    out = augment.random_scale_crop(ex, np.random.default_rng(seed))
    norm = np.linalg.norm(out["normals"].astype(np.float64), axis=-1)
    src = out["segmentation"] + 1
    invalid = np.all(ex["normals"] == 0, -1).reshape(-1)[src]
    np.testing.assert_array_equal(norm == 0, invalid)
    np.testing.assert_allclose(norm[~invalid], 1.0, atol=1e-6)
    assert set(np.unique(out["segmentation"])) <= set(np.unique(ex["segmentation"]))


def test_scale_crop_normals_are_interpolated():
  # Normals rotating with the column: the zoomed output interpolates angles.
  angle = np.linspace(-0.6, 0.6, W)
  normals = np.stack([np.sin(angle), np.zeros(W), -np.cos(angle)], -1)
  ex = {"normals": np.broadcast_to(normals, (H, W, 3)).astype(np.float32)}
  out = augment.random_scale_crop(ex, np.random.default_rng(0), scales=(2.0,))
  got = np.arctan2(out["normals"][0, :, 0], -out["normals"][0, :, 2])
  assert np.all(np.diff(got) > 0)  # Strictly increasing: interpolated, not repeated.
  step = 1.2 / (W - 1)
  np.testing.assert_allclose(np.diff(got), step * (W / 2 - 1) / (W - 1), rtol=1e-2)


def test_segmentation_values_stay_in_set_and_ignore_kept():
  rng = np.random.default_rng(0)
  seg = rng.choice(np.array([-1, 0, 3, 6], np.int32), size=(H, W))
  for seed in range(10):
    out = augment.random_scale_crop({"segmentation": seg}, np.random.default_rng(seed))
    assert out["segmentation"].dtype == np.int32
    assert set(np.unique(out["segmentation"])) <= {-1, 0, 3, 6}


def test_unknown_key_rejected():
  with pytest.raises(KeyError):
    augment.random_flip({"mask": np.zeros((2, 2))}, np.random.default_rng(0))
