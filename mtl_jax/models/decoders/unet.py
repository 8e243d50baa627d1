"""A U-Net style decoder: upsample, concatenate the skip feature, convolve."""

from typing import Optional, Sequence

import flax.linen as nn
import jax

from mtl_jax.models.blocks.conv_block import ConvBlock
from mtl_jax.models.blocks.resize import upsample_to


class UNetDecoder(nn.Module):
  """Decodes multi-scale features (finest first) into ``out_channels`` maps.

  From the coarsest feature up: bilinear x2, concatenate the next finer
  feature, one 3x3 ConvBlock; a final 1x1 conv gives the prediction at the
  finest feature's resolution ``[B, H, W, out_channels]``.

  Attributes:
    out_channels: channels of the prediction.
    widths: channels of the ConvBlock at each finer scale (finest first),
      one fewer than the number of features.
    norm: normalisation kind.
    axis_name: data-parallel axis for batch norm.
  """
  out_channels: int
  widths: Sequence[int] = (16, 32, 64)
  norm: str = "batch"
  axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, features: Sequence[jax.Array], train: bool) -> jax.Array:
    if len(self.widths) != len(features) - 1:
      raise ValueError(f"UNetDecoder needs {len(features) - 1} widths, got {len(self.widths)}")
    x = features[-1]
    for skip, width in zip(features[-2::-1], self.widths[::-1]):
      x = jax.numpy.concatenate([upsample_to(x, skip), skip], axis=-1)
      x = ConvBlock(width, norm=self.norm, axis_name=self.axis_name)(x, train)
    return nn.Conv(self.out_channels, (1, 1))(x)
