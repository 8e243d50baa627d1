"""MTAN's task-specific attention modules (Liu, Johns, Davison, CVPR 2019)."""

from typing import Optional, Sequence

import flax.linen as nn
import jax

from mtl_jax.models.blocks.conv_block import norm_layer


class AttentionMask(nn.Module):
  """MTAN's attention module ``g``: ``[B, H, W, C_in]`` -> a soft mask ``[B, H, W, features]``.

  ``sigmoid(norm(conv1x1(relu(norm(conv1x1(x))))))``, values in (0, 1), for
  ``x`` the concatenation of a shared feature and the previous attended feature
  (section 3.2, equation (1)).

  Attributes:
    features: the mask's channels (those of the shared feature it multiplies).
    norm: normalisation kind; axis_name: data-parallel axis for batch norm.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> mask, x = AttentionMask(4, norm="none"), jnp.ones((1, 2, 2, 8))
    >>> v = jax.eval_shape(lambda x: mask.init(jax.random.key(0), x, train=False), x)
    >>> jax.eval_shape(lambda v, x: mask.apply(v, x, train=False), v, x).shape
    (1, 2, 2, 4)
  """
  features: int
  norm: str = "batch"
  axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    bias = self.norm == "none"
    x = nn.Conv(self.features, (1, 1), use_bias=bias)(x)
    x = nn.relu(norm_layer(self.norm, self.features, train, self.axis_name)(x))
    x = nn.Conv(self.features, (1, 1), use_bias=bias)(x)
    return nn.sigmoid(norm_layer(self.norm, self.features, train, self.axis_name)(x))


class TaskAttention(nn.Module):
  """One task's parameters in MTAN: a mask per encoder stage and decoder level, and its head.

  The masks of encoder stage ``j`` have ``encoder_widths[j]`` channels, those
  of decoder level ``j`` ``decoder_widths[j]``; the head is MTAN's prediction
  layer, a 3x3 then a 1x1 convolution, ``[B, H, W, decoder_widths[0]]`` ->
  ``[B, H, W, out_channels]``. MTAN (``mtan.py``) calls ``encoder_mask``,
  ``decoder_mask`` and ``predict``; the shared convolutions between the masks
  belong to MTAN itself.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> task = TaskAttention(out_channels=3, encoder_widths=(4, 8), decoder_widths=(4, 4))
    >>> x = jnp.zeros((1, 8, 8, 4))
    >>> v = jax.eval_shape(lambda x: task.init(jax.random.key(0), x, method="predict"), x)
    >>> jax.eval_shape(lambda v, x: task.apply(v, x, method="predict"), v, x).shape
    (1, 8, 8, 3)
  """
  out_channels: int
  encoder_widths: Sequence[int]
  decoder_widths: Sequence[int]
  norm: str = "batch"
  axis_name: Optional[str] = None

  def setup(self):
    self.encoder_masks = [AttentionMask(w, self.norm, self.axis_name)
                          for w in self.encoder_widths]
    self.decoder_masks = [AttentionMask(w, self.norm, self.axis_name)
                          for w in self.decoder_widths]
    self.head = nn.Sequential([nn.Conv(self.decoder_widths[0], (3, 3)),
                               nn.Conv(self.out_channels, (1, 1))])

  def encoder_mask(self, j: int, x: jax.Array, train: bool) -> jax.Array:
    """The mask of encoder stage ``j`` from its input ``[B, H, W, C_in]``."""
    return self.encoder_masks[j](x, train)

  def decoder_mask(self, j: int, x: jax.Array, train: bool) -> jax.Array:
    """The mask of decoder level ``j`` from its input ``[B, H, W, C_in]``."""
    return self.decoder_masks[j](x, train)

  def predict(self, x: jax.Array) -> jax.Array:
    """The attended finest decoder feature -> the prediction ``[B, H, W, out_channels]``."""
    return self.head(x)
