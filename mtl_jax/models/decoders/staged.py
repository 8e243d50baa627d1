"""A U-Net style task decoder run one stage at a time, so networks can act between stages."""

from typing import Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from mtl_jax.models.blocks.conv_block import ConvBlock
from mtl_jax.models.blocks.resize import upsample_to


class StagedDecoder(nn.Module):
  """One task's decoder over multi-scale features, exposed stage by stage.

  With encoder features ``f_0 .. f_{S-1}`` (finest first) and decoder widths
  ``w_0 .. w_{S-1}``, the decoder's feature at stage ``i`` is

      x_{S-1} = ConvBlock_{S-1}(f_{S-1})
      x_i     = ConvBlock_i([U(x_{i+1}), f_i])     (i = S-2 .. 0)

  (``U`` a bilinear resize to ``f_i``'s size, ``[.]`` channel concatenation,
  ``x_i`` of shape ``[B, H_i, W_i, w_i]``), and the prediction is a 1x1 conv of
  ``x_0``: ``[B, H_0, W_0, out_channels]``. Unlike ``UNetDecoder`` it has a
  block at the coarsest stage too, so every stage's feature is the task's own;
  a caller runs ``stage(i, ...)`` from ``S-1`` down to ``0``, may change ``x_i``
  between calls, and ends with ``predict``; ``__call__`` does it all at once.

  Attributes:
    out_channels: channels of the prediction.
    widths: ``w_i``, one per encoder stage, finest first.
    norm: normalisation kind.
    axis_name: data-parallel axis for batch norm.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> decoder = StagedDecoder(out_channels=3, widths=(4, 8), norm="none")
    >>> features = (jnp.ones((1, 8, 8, 4)), jnp.ones((1, 4, 4, 8)))
    >>> out, _ = jax.eval_shape(lambda: decoder.init_with_output(
    ...     jax.random.key(0), features, train=False))
    >>> out.shape
    (1, 8, 8, 3)
  """
  out_channels: int
  widths: Sequence[int]
  norm: str = "batch"
  axis_name: Optional[str] = None

  def setup(self):
    self.blocks = [ConvBlock(w, norm=self.norm, axis_name=self.axis_name) for w in self.widths]
    self.head = nn.Conv(self.out_channels, (1, 1))

  def stage(self, i: int, x: Optional[jax.Array], features: Sequence[jax.Array],
            train: bool) -> jax.Array:
    """``x_i`` from ``x_{i+1}`` (None at the coarsest stage) and the encoder features."""
    if len(features) != len(self.widths):
      raise ValueError(f"StagedDecoder has {len(self.widths)} widths for"
                       f" {len(features)} encoder stages")
    if x is None:
      return self.blocks[i](features[i], train)
    return self.blocks[i](jnp.concatenate([upsample_to(x, features[i]), features[i]], -1), train)

  def predict(self, x: jax.Array) -> jax.Array:
    """The prediction from the finest stage's feature ``x_0``."""
    return self.head(x)

  def __call__(self, features: Sequence[jax.Array], train: bool) -> jax.Array:
    x = None
    for i in reversed(range(len(features))):
      x = self.stage(i, x, features, train)
    return self.predict(x)
