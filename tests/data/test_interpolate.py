"""PyTorch's F.interpolate sampling against exact references."""

import numpy as np
import pytest

from mtl_jax.data import interpolate


@pytest.mark.parametrize("size", [288, 384, 128, 256])
def test_taps_at_the_benchmarks_sizes(size):
  # The field's windows int(size / s) for s = 1.2, 1.5, resized back to size.
  for scale in (1.2, 1.5):
    crop = int(size / scale)
    out = np.arange(size)
    # 'nearest': floor(i * crop / size), here exactly in integers.
    np.testing.assert_array_equal(interpolate.nearest_index(size, crop), out * crop // size)
    lo, hi, w_hi = interpolate.linear_taps(size, crop)
    assert np.all(hi - lo == (lo < crop - 1)) and hi.max() == crop - 1
    assert np.all((w_hi >= 0) & (w_hi <= 1))
    # align_corners=True samples i (crop - 1) / (size - 1), up to float32 rounding.
    np.testing.assert_allclose(lo + w_hi.astype(float), out * (crop - 1) / (size - 1), atol=1e-4)
  assert not interpolate.linear_taps(size, crop)[0].flags.writeable  # Cached: read-only.


def test_nearest_special_sizes():
  np.testing.assert_array_equal(interpolate.nearest_index(6, 6), np.arange(6))
  np.testing.assert_array_equal(interpolate.nearest_index(6, 3), [0, 0, 1, 1, 2, 2])
  np.testing.assert_array_equal(interpolate.nearest_index(7, 3), [0, 0, 0, 1, 1, 2, 2])


@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
def test_bilinear_reproduces_a_bilinear_function(dtype):
  # Bilinear interpolation is exact on f(y, x) = a + b y + c x + d x y (integer
  # coefficients: uint8 holds the grid values exactly). With align_corners=True,
  # output (r, c) samples the source at (r (h - 1) / (H - 1), c (w - 1) / (W - 1)).
  h, w, out_h, out_w = 5, 7, 9, 12
  y, x = np.mgrid[0:h, 0:w].astype(float)

  def f(y, x):
    return np.stack([2 + 3 * y + 4 * x + x * y, 20 - 2 * y + x], -1)

  got = interpolate.resize_bilinear(f(y, x).astype(dtype), out_h, out_w)
  assert got.dtype == np.float32 and got.shape == (out_h, out_w, 2)
  r, c = np.mgrid[0:out_h, 0:out_w].astype(float)
  want = f(r * (h - 1) / (out_h - 1), c * (w - 1) / (out_w - 1))
  np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)
  # Same size: the identity, exactly.
  same = f(y, x).astype(dtype)
  np.testing.assert_array_equal(interpolate.resize_bilinear(same, h, w), same.astype(np.float32))
