"""A small convolutional encoder that returns features at every scale."""

from typing import Optional, Sequence

import flax.linen as nn
import jax

from mtl_jax.models.blocks import input_norm as input_norm_lib

from mtl_jax.models.blocks.conv_block import ConvBlock


class ConvStage(nn.Module):
  """One encoder stage: 2x2 max pooling (unless ``pool=False``), then ``depth`` 3x3 ConvBlocks.

  ``[B, H, W, C_in]`` -> ``(inner, out)``, both ``[B, H', W', width]`` with
  ``H' = H // 2`` when pooling: ``inner`` is the first block's output (what
  MTAN's attention masks read), ``out`` the last block's.

  Attributes:
    width: output channels.
    depth: number of ConvBlocks.
    pool: whether the stage starts by halving the size.
    norm: normalisation kind (see ``conv_block.norm_layer``).
    axis_name: data-parallel axis for batch norm.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> stage, x = ConvStage(8, norm="none"), jnp.zeros((1, 16, 24, 4))
    >>> v = jax.eval_shape(lambda x: stage.init(jax.random.key(0), x, train=False), x)
    >>> [y.shape for y in jax.eval_shape(lambda v, x: stage.apply(v, x, train=False), v, x)]
    [(1, 8, 12, 8), (1, 8, 12, 8)]
  """
  width: int
  depth: int = 2
  pool: bool = True
  norm: str = "batch"
  axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> tuple[jax.Array, jax.Array]:
    if self.pool:
      x = nn.max_pool(x, (2, 2), strides=(2, 2))
    inner = x = ConvBlock(self.width, norm=self.norm, axis_name=self.axis_name)(x, train)
    for _ in range(self.depth - 1):
      x = ConvBlock(self.width, norm=self.norm, axis_name=self.axis_name)(x, train)
    return inner, x


class ConvEncoder(nn.Module):
  """Stages of 3x3 ConvBlocks (two each by default), each stage after the first halving the size.

  Input ``[B, H, W, 3]``; output a tuple of feature maps, stage ``i`` of shape
  ``[B, H / 2^i, W / 2^i, widths[i]]`` (H and W divisible by ``2^(S-1)``).
  ``stage(i, x, train)`` runs stage ``i`` alone on stage ``i - 1``'s output (the
  images for ``i = 0``) and returns ``(inner, out)`` (see ``ConvStage``), for
  networks that work between the stages (MTAN, cross-stitch).

  Attributes:
    widths: channels per stage.
    depths: ConvBlocks per stage (default: two each).
    norm: normalisation kind (see ``conv_block.norm_layer``).
    axis_name: data-parallel axis for batch norm.
    remat: rematerialise each stage (``nn.remat``): its activations are
      recomputed in the backward pass instead of kept; the same parameters
      and gradients, less memory, one more forward pass of the encoder.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> enc = ConvEncoder(widths=(4, 8), norm="none")
    >>> x = jax.ShapeDtypeStruct((2, 16, 24, 3), jnp.float32)
    >>> v = jax.eval_shape(lambda x: enc.init(jax.random.key(0), x, train=False), x)
    >>> [f.shape for f in jax.eval_shape(lambda v, x: enc.apply(v, x, train=False), v, x)]
    [(2, 16, 24, 4), (2, 8, 12, 8)]
  """
  widths: Sequence[int] = (16, 32, 64, 128)
  depths: Optional[Sequence[int]] = None
  norm: str = "batch"
  axis_name: Optional[str] = None
  remat: bool = False
  input_norm: str = "unit"  # How the images are normalised first (blocks.input_norm).

  # The finest feature's stride relative to the input.
  INPUT_STRIDE = 1

  @classmethod
  def default_depths(cls, num_stages: int) -> tuple[int, ...]:
    """ConvBlocks per stage when ``depths`` is not given: two each."""
    return (2,) * num_stages

  def setup(self):
    depths = self.default_depths(len(self.widths)) if self.depths is None else tuple(self.depths)
    if len(depths) != len(self.widths):
      raise ValueError(f"{type(self).__name__}: {len(self.widths)} widths but depths {depths}")
    stage = nn.remat(ConvStage, static_argnums=(2,)) if self.remat else ConvStage
    self.stages = [stage(w, d, pool=i > 0, norm=self.norm, axis_name=self.axis_name)
                   for i, (w, d) in enumerate(zip(self.widths, depths))]
    input_norm_lib.check(self.input_norm)

  def stage(self, i: int, x: jax.Array, train: bool) -> tuple[jax.Array, jax.Array]:
    """Stage ``i`` alone: ``(inner, out)``."""
    if i == 0:
      x = input_norm_lib.normalize(x, self.input_norm)
    return self.stages[i](x, train)

  def __call__(self, x: jax.Array, train: bool) -> tuple[jax.Array, ...]:
    x = input_norm_lib.normalize(x, self.input_norm)
    features = []
    for stage in self.stages:
      _, x = stage(x, train)
      features.append(x)
    return tuple(features)
