"""Convolution, normalisation, ReLU: the block every network here is made of."""

import math
from typing import Optional

import flax.linen as nn
import jax


def norm_layer(kind: str, features: int, train: bool, axis_name: Optional[str], name=None):
  """A normalisation layer by name: "batch", "group" or "none", for ``features`` channels.

  Group norm uses ``gcd(features, 32)`` groups.

  Batch norm synchronises its statistics over ``axis_name`` (the data-parallel
  axis), so a data-parallel step normalises with the statistics of the whole
  global batch, as a single-device step would.
  """
  if kind == "batch":
    # Two-pass variance: E[(x - mean)^2] rather than E[x^2] - mean^2, whose
    # cancellation makes per-device and single-device statistics disagree.
    return nn.BatchNorm(use_running_average=not train, momentum=0.9,
                        axis_name=axis_name if train else None, use_fast_variance=False,
                        name=name)
  if kind == "group":
    return nn.GroupNorm(num_groups=math.gcd(features, 32), name=name)
  if kind == "none":
    return lambda x: x
  raise ValueError(f"unknown norm {kind!r}; known: batch, group, none")


class ConvBlock(nn.Module):
  """``relu(norm(conv_kxk(x)))`` on NHWC input.

  Attributes:
    features: output channels.
    kernel_size: square kernel size.
    dilation: kernel dilation.
    norm: "batch", "group" or "none".
    axis_name: the data-parallel axis batch norm synchronises over (or None).
  """
  features: int
  kernel_size: int = 3
  dilation: int = 1
  norm: str = "batch"
  axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    k = self.kernel_size
    x = nn.Conv(self.features, (k, k), kernel_dilation=self.dilation,
                use_bias=self.norm == "none")(x)
    x = norm_layer(self.norm, self.features, train, self.axis_name)(x)
    return nn.relu(x)
