"""SemBoost's task decoder: up-convolutions joined by semi-dense up-skip connections."""

from typing import Optional, Sequence

import flax.linen as nn
import jax

from mtl_jax.models.blocks.conv_block import ConvBlock
from mtl_jax.models.blocks.resize import upsample_to


def semi_dense_sum(features: Sequence[jax.Array], like: jax.Array) -> jax.Array:
  """Semi-dense up-skip of SemBoost (Jiao et al., ECCV 2018): ``sum_j h(f_j)``.

  ``h`` is a bilinear resize (half-pixel centres, edges clamped) of each
  ``[B, H_j, W_j, C]`` feature to ``like``'s size ``[B, H, W, C]``.

  >>> import jax.numpy as jnp
  >>> coarse = jnp.array([1.0, 3.0]).reshape(1, 1, 2, 1)
  >>> fine = jnp.ones((1, 1, 4, 1))
  >>> semi_dense_sum([coarse, fine], fine)[0, 0, :, 0].tolist()
  [2.0, 2.5, 3.5, 4.0]
  """
  total = upsample_to(features[0], like)
  for f in features[1:]:
    total = total + upsample_to(f, like)
  return total


class UpSkipDecoder(nn.Module):
  """One SemBoost task decoder, exposed up-convolution by up-convolution.

  From the encoder's coarsest feature ``f_in``, up-convolution ``j`` is a
  bilinear resize to the next finer encoder stage's size then a 3x3 ConvBlock
  of ``width`` channels, giving ``f_j`` (``up(j, x, like)``; the network may
  change ``f_j`` before the next one, e.g. by an ``LSU``). The output
  (``output``), at the finest stage's size ``[B, H, W, out_channels]``, is

      f_out = h(R f_in) + sum_j h(f_j)      (the semi-dense up-skip connections)
      pred  = conv1x1(f_out)

  where ``f_j`` are the up-convolutions' own outputs and ``R`` is a 1x1 conv
  to ``width`` channels, which the paper's sum needs since ``f_in`` has the
  encoder's width. With ``up_skip=False``: ``pred = conv1x1(h(f_last))``.

  Attributes:
    out_channels: channels of the prediction.
    width: channels of every up-convolution.
    num_up: number of up-convolutions.
    up_skip: use the semi-dense up-skip connections (ablation switch).
    norm: normalisation kind.
    axis_name: data-parallel axis for batch norm.

  ``__call__(features, train)`` runs it all on encoder features (finest first):
  ``num_up = len(features) - 1`` up-convolutions, to each finer stage's size.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> decoder = UpSkipDecoder(out_channels=3, width=4, num_up=1, norm="none")
    >>> features = (jnp.ones((1, 8, 8, 4)), jnp.ones((1, 4, 4, 8)))
    >>> out, _ = jax.eval_shape(lambda: decoder.init_with_output(
    ...     jax.random.key(0), features, train=False))
    >>> out.shape
    (1, 8, 8, 3)
  """
  out_channels: int
  width: int
  num_up: int
  up_skip: bool = True
  norm: str = "batch"
  axis_name: Optional[str] = None

  def setup(self):
    self.ups = [ConvBlock(self.width, norm=self.norm, axis_name=self.axis_name)
                for _ in range(self.num_up)]
    self.reduce = nn.Conv(self.width, (1, 1))
    self.head = nn.Conv(self.out_channels, (1, 1))

  def up(self, j: int, x: jax.Array, like: jax.Array, train: bool) -> jax.Array:
    """Up-convolution ``j`` of ``x`` to ``like``'s spatial size: ``[B, H_j, W_j, width]``."""
    return self.ups[j](upsample_to(x, like), train)

  def output(self, f_in: jax.Array, ups: Sequence[jax.Array], like: jax.Array) -> jax.Array:
    """The prediction at ``like``'s size from ``f_in`` and the up-convolutions' outputs."""
    if self.up_skip:
      return self.head(semi_dense_sum([self.reduce(f_in), *ups], like))
    return self.head(upsample_to(ups[-1] if ups else self.reduce(f_in), like))

  def __call__(self, features: Sequence[jax.Array], train: bool) -> jax.Array:
    if len(features) != self.num_up + 1:
      raise ValueError(f"UpSkipDecoder with num_up={self.num_up} needs {self.num_up + 1}"
                       f" encoder stages, got {len(features)}")
    x, ups = features[-1], []
    for j in range(self.num_up):
      x = self.up(j, x, features[-2 - j], train)
      ups.append(x)
    return self.output(features[-1], ups, features[0])
