"""A small convolutional encoder that returns features at every scale."""

from typing import Optional, Sequence

import flax.linen as nn
import jax

from mtl_jax.models.conv_block import ConvBlock


class ConvEncoder(nn.Module):
  """Stages of two 3x3 ConvBlocks, each stage after the first halving the size.

  Input ``[B, H, W, 3]``; output a tuple of feature maps, stage ``i`` of shape
  ``[B, H / 2^i, W / 2^i, widths[i]]`` (H and W divisible by ``2^(S-1)``).

  Attributes:
    widths: channels per stage.
    norm: normalisation kind (see ``conv_block.norm_layer``).
    axis_name: data-parallel axis for batch norm.
  """
  widths: Sequence[int] = (16, 32, 64, 128)
  norm: str = "batch"
  axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> tuple[jax.Array, ...]:
    features = []
    for i, width in enumerate(self.widths):
      if i:
        x = nn.max_pool(x, (2, 2), strides=(2, 2))
      x = ConvBlock(width, norm=self.norm, axis_name=self.axis_name)(x, train)
      x = ConvBlock(width, norm=self.norm, axis_name=self.axis_name)(x, train)
      features.append(x)
    return tuple(features)
