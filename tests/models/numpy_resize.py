"""A NumPy reference of plain bilinear resizing: the networks' upsampling
(``blocks.resize.upsample_to``) and PyTorch's ``F.interpolate(mode="bilinear",
align_corners=False)`` both ways (HMSA's ``resize="bilinear"``)."""

import numpy as np


def upsample_matrix(n: int, m: int) -> np.ndarray:
  """``[m, n]`` 1-D linear interpolation from ``n`` to ``m`` samples.

  Half-pixel centres (output ``i`` samples input position ``(i + 0.5) n / m - 0.5``),
  positions outside ``[0, n - 1]`` clamped to the edge.
  """
  out = np.zeros((m, n))
  for i in range(m):
    src = min(max((i + 0.5) * n / m - 0.5, 0.0), n - 1.0)
    lo = int(np.floor(src))
    hi, frac = min(lo + 1, n - 1), src - lo
    out[i, lo] += 1 - frac
    out[i, hi] += frac
  return out


def upsample(x: np.ndarray, h: int, w: int) -> np.ndarray:
  """``[B, H', W', C] -> [B, h, w, C]``, separably."""
  return np.einsum("ih,jw,bhwc->bijc", upsample_matrix(x.shape[1], h),
                   upsample_matrix(x.shape[2], w), x)
