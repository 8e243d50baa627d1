"""CBAM: channel attention, then spatial attention (Woo et al., ECCV 2018)."""

import flax.linen as nn
import jax
import jax.numpy as jnp


def num_params(channels: int, reduction: int = 16, kernel_size: int = 7) -> int:
  """Parameters of ``CBAM(reduction, kernel_size)`` on ``channels`` channels.

  The MLP ``C -> C/r -> C`` with biases and the ``k x k`` convolution from two
  maps to one with a bias: ``2 C h + h + C + 2 k^2 + 1``, ``h = max(C // r, 1)``.

  >>> num_params(64)  # 64 -> 4 -> 64 MLP and a 7x7 conv
  679
  """
  hidden = max(channels // reduction, 1)
  return 2 * channels * hidden + hidden + channels + 2 * kernel_size ** 2 + 1


class CBAM(nn.Module):
  """Convolutional Block Attention Module on NHWC features ``[B, H, W, C]``.

  Channel attention, with one MLP ``W1 relu(W0 v + b0) + b1`` (hidden width
  ``max(C // reduction, 1)``) shared by both pooled descriptors::

    M_c = sigmoid(MLP(mean_hw F) + MLP(max_hw F))            [B, 1, 1, C]
    F'  = M_c * F

  then spatial attention from the channel-wise mean and max maps::

    M_s = sigmoid(conv_kxk([mean_c F'; max_c F']))          [B, H, W, 1]
    out = M_s * F'                                           [B, H, W, C]

  (the paper's equations (2) and (3), its default ``reduction=16``, ``k = 7``;
  the convolution is zero-padded to keep the size and has a bias).

  Attributes:
    reduction: the MLP's reduction ratio r.
    kernel_size: the spatial attention's kernel size k.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> x = jax.ShapeDtypeStruct((2, 8, 8, 32), jnp.float32)
    >>> variables = jax.eval_shape(lambda x: CBAM().init(jax.random.key(0), x), x)
    >>> jax.eval_shape(lambda v, x: CBAM().apply(v, x), variables, x).shape
    (2, 8, 8, 32)
    >>> sum(p.size for p in jax.tree_util.tree_leaves(variables)) == num_params(32)
    True
  """
  reduction: int = 16
  kernel_size: int = 7

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    channels = x.shape[-1]
    hidden = nn.Dense(max(channels // self.reduction, 1), name="mlp_hidden")
    output = nn.Dense(channels, name="mlp_output")

    def mlp(v):
      return output(nn.relu(hidden(v)))

    channel = nn.sigmoid(mlp(jnp.mean(x, axis=(1, 2))) + mlp(jnp.max(x, axis=(1, 2))))
    x = x * channel[:, None, None, :]
    maps = jnp.concatenate([jnp.mean(x, axis=-1, keepdims=True),
                            jnp.max(x, axis=-1, keepdims=True)], axis=-1)
    k = self.kernel_size
    spatial = nn.sigmoid(nn.Conv(1, (k, k), padding="SAME", name="spatial")(maps))
    return x * spatial
