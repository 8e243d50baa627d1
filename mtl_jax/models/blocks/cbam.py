"""CBAM: channel attention, then spatial attention (Woo et al., ECCV 2018)."""

from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from mtl_jax.models.blocks.conv_block import norm_layer

VARIANTS = ("official", "paper")


def num_params(channels: int, reduction: int = 16, kernel_size: int = 7,
               variant: str = "official", norm: str = "batch") -> int:
  """Parameters of ``CBAM(reduction, kernel_size, variant, norm)`` on ``channels`` channels.

  The MLP ``C -> C/r -> C`` with biases, ``2 C h + h + C`` with ``h = max(C //
  r, 1)``, and the ``k x k`` convolution from two maps to one: ``2 k^2`` and a
  batch norm's scale and offset (``"official"``), or ``2 k^2`` and a bias
  (``"paper"``, or any variant without a norm).

  >>> num_params(64), num_params(64, variant="paper")  # 64 -> 4 -> 64 MLP and a 7x7 conv
  (680, 679)
  """
  hidden = max(channels // reduction, 1)
  mlp = 2 * channels * hidden + hidden + channels
  normed = variant == "official" and norm != "none"
  return mlp + 2 * kernel_size ** 2 + (2 if normed else 1)


class CBAM(nn.Module):
  """Convolutional Block Attention Module on NHWC features ``[B, H, W, C]``.

  Channel attention, with one MLP ``W1 relu(W0 v + b0) + b1`` (hidden width
  ``max(C // reduction, 1)``) shared by both pooled descriptors::

    M_c = sigmoid(MLP(mean_hw F) + MLP(max_hw F))            [B, 1, 1, C]
    F'  = M_c * F

  then spatial attention from the channel-wise max and mean maps::

    M_s = sigmoid(BN(conv_kxk([max_c F'; mean_c F'])))       [B, H, W, 1]
    out = M_s * F'                                           [B, H, W, C]

  (the paper's equations (2) and (3), its default ``reduction=16``, ``k = 7``;
  the convolution is zero-padded to keep the size). ``variant`` picks the
  spatial attention's convolution:

  * ``"official"`` (default): as the authors' code (``SpatialGate``), a
    convolution without a bias followed by a batch norm (``norm``, synchronised
    over ``axis_name``; our batch norms' momentum, 0.9, where that code's is
    0.99 in Flax's convention), on the maps ordered [max; mean];
  * ``"paper"``: equation (3) as written, ``sigmoid(conv([mean; max]))``, a
    convolution with a bias and no norm.

  With ``norm="none"`` the official variant's convolution keeps a bias.

  Attributes:
    reduction: the MLP's reduction ratio r.
    kernel_size: the spatial attention's kernel size k.
    variant: ``"official"`` or ``"paper"``.
    norm: the official variant's norm, "batch", "group" or "none".
    axis_name: the data-parallel axis batch norm synchronises over (or None).

  Example:
    >>> import jax, jax.numpy as jnp
    >>> x = jax.ShapeDtypeStruct((2, 8, 8, 32), jnp.float32)
    >>> variables = jax.eval_shape(lambda x: CBAM().init(jax.random.key(0), x), x)
    >>> jax.eval_shape(lambda v, x: CBAM().apply(v, x), variables, x).shape
    (2, 8, 8, 32)
    >>> sum(p.size for p in jax.tree_util.tree_leaves(variables["params"])) == num_params(32)
    True
  """
  reduction: int = 16
  kernel_size: int = 7
  variant: str = "official"
  norm: str = "batch"
  axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    if self.variant not in VARIANTS:
      raise ValueError(f"cbam: unknown variant {self.variant!r}; known: {', '.join(VARIANTS)}")
    channels = x.shape[-1]
    hidden = nn.Dense(max(channels // self.reduction, 1), name="mlp_hidden")
    output = nn.Dense(channels, name="mlp_output")

    def mlp(v):
      return output(nn.relu(hidden(v)))

    channel = nn.sigmoid(mlp(jnp.mean(x, axis=(1, 2))) + mlp(jnp.max(x, axis=(1, 2))))
    x = x * channel[:, None, None, :]
    mean = jnp.mean(x, axis=-1, keepdims=True)
    peak = jnp.max(x, axis=-1, keepdims=True)
    k = self.kernel_size
    if self.variant == "paper":
      logits = nn.Conv(1, (k, k), padding="SAME", name="spatial")(
          jnp.concatenate([mean, peak], axis=-1))
    else:
      normed = self.norm != "none"
      logits = nn.Conv(1, (k, k), padding="SAME", use_bias=not normed, name="spatial")(
          jnp.concatenate([peak, mean], axis=-1))
      if normed:
        logits = norm_layer(self.norm, 1, train, self.axis_name, name="spatial_norm")(logits)
    return x * nn.sigmoid(logits)
