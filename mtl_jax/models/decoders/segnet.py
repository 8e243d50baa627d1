"""The SegNet decoder: the encoder's mirror image, upsampling by max-unpooling."""

from typing import Optional, Sequence

import flax.linen as nn
import jax

from mtl_jax.models.blocks.conv_block import ConvBlock
from mtl_jax.models.blocks.resize import max_unpool, upsample_to
from mtl_jax.models.encoders.segnet import vgg16_depths


def _upsample_like(x: jax.Array, like: jax.Array) -> jax.Array:
  """SegNet's upsampling of ``x`` to the size of the encoder feature ``like``.

  Max-unpooling with ``like``'s 2x2 maxima positions when ``like`` is exactly
  twice the size (and has ``x``'s channels), bilinear otherwise (the same size
  returns ``x``; dilated encoders keep the size).
  """
  h, w = x.shape[1:3]
  if like.shape[1:3] == (2 * h, 2 * w) and like.shape[-1] == x.shape[-1]:
    return max_unpool(x, like)
  return upsample_to(x, like)


class SegNetDecoder(nn.Module):
  """Decodes encoder features ``f_0..f_{S-1}`` (finest first) level by level, coarsest first.

  Level ``j`` runs at stage ``j``'s size: its input ``u_j`` is ``f_{S-1}`` for
  the coarsest level, else the previous level's output upsampled to ``f_j``'s
  size (``_upsample_like``: unpooled with ``f_j``'s pooling positions); then
  ``depths[j]`` 3x3 conv blocks of width ``C_{j-1}`` (``C_0`` at level 0),
  the first one changing the width, as SegNet's decoder mirrors VGG-16 (and as
  MTAN's SegNet does). Returns ``((u_0, p_0), ..., (u_{S-1}, p_{S-1}))``,
  finest first: each level's input and output, ``p_0`` is
  ``[B, H_0, W_0, C_0]``. SegNet's pooling after the last encoder block and
  the matching first unpooling are left out (``segnet_encoder``).

  Attributes:
    depths: conv blocks per level, finest first (default: VGG-16's ``(2, 2, 3, 3, 3)``).
    norm: normalisation kind; axis_name: data-parallel axis for batch norm.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> feats = (jnp.zeros((1, 16, 16, 4)), jnp.zeros((1, 8, 8, 8)), jnp.zeros((1, 4, 4, 8)))
    >>> dec = SegNetDecoder(norm="none")
    >>> v = jax.eval_shape(lambda f: dec.init(jax.random.key(0), f, train=False), feats)
    >>> levels = jax.eval_shape(lambda v, f: dec.apply(v, f, train=False), v, feats)
    >>> [(u.shape[1:], p.shape[1:]) for u, p in levels]
    [((16, 16, 4), (16, 16, 4)), ((8, 8, 8), (8, 8, 4)), ((4, 4, 8), (4, 4, 8))]
  """
  depths: Optional[Sequence[int]] = None
  norm: str = "batch"
  axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, features: Sequence[jax.Array], train: bool):
    num = len(features)
    depths = vgg16_depths(num) if self.depths is None else tuple(self.depths)
    if len(depths) != num:
      raise ValueError(f"SegNetDecoder: {num} features but depths {tuple(depths)}")
    levels = [None] * num
    x = features[-1]
    for j in reversed(range(num)):
      if j < num - 1:
        x = _upsample_like(x, features[j])
      inner = x
      width = features[max(j - 1, 0)].shape[-1]
      for _ in range(depths[j]):
        x = ConvBlock(width, norm=self.norm, axis_name=self.axis_name)(x, train)
      levels[j] = (inner, x)
    return tuple(levels)
