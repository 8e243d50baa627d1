"""xTAM: DenseMTL's correlation-guided cross-task attention for one task pair s→t."""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from mtl_jax.models.blocks.resize import upsample_to


def pool(x: jax.Array, factor: int) -> jax.Array:
  """``factor x factor`` average pooling with stride ``factor`` of NHWC ``x``.

  ``[B, H, W, C] -> [B, ceil(H / factor), ceil(W / factor), C]``; windows that
  run past the edge average only the pixels inside (``factor=1``: ``x`` itself).

  >>> import jax.numpy as jnp
  >>> pool(jnp.arange(8.0).reshape(1, 2, 4, 1), 2)[0, ..., 0].tolist()
  [[2.5, 4.5]]
  """
  if factor == 1:
    return x
  window = (factor, factor)
  return nn.avg_pool(x, window, strides=window, padding="SAME", count_include_pad=False)


def attend(queries: jax.Array, keys: jax.Array, values: jax.Array) -> jax.Array:
  """Scaled dot-product attention from every query position over all source positions.

  ``queries [B, h, w, C]``, ``keys [B, h', w', C]``, ``values [B, h', w', C_v]``
  -> ``[B, h, w, C_v]``: with ``q_i``, ``k_j``, ``v_j`` the vectors at positions
  ``i`` (query grid) and ``j`` (source grid),

      out_i = sum_j softmax_j(<q_i, k_j> / sqrt(C)) v_j,

  the softmax taken over the ``h' w'`` source positions (Vaswani et al. 2017;
  DANet's position attention, which xTAM follows, omits the ``1 / sqrt(C)``,
  which only rescales the logits; we keep it so the logits' scale does not grow
  with the width).

  >>> import jax.numpy as jnp
  >>> q = jnp.zeros((1, 1, 1, 2))  # Equal logits: the mean of the values.
  >>> v = jnp.arange(4.0).reshape(1, 2, 2, 1)
  >>> float(attend(q, jnp.ones((1, 2, 2, 2)), v)[0, 0, 0, 0])
  1.5
  """
  b, h, w, c = queries.shape
  q = queries.reshape(b, h * w, c)
  k = keys.reshape(b, -1, c)
  v = values.reshape(b, k.shape[1], values.shape[-1])
  weights = jax.nn.softmax(jnp.einsum("bic,bjc->bij", q, k) / math.sqrt(c), axis=-1)
  return jnp.einsum("bij,bjc->bic", weights, v).reshape(b, h, w, values.shape[-1])


class XTAM(nn.Module):
  """Correlation-guided attention of DenseMTL (Lopes, Vu, de Charette, WACV 2023).

  For the ordered task pair s→t at one decoder stage, with ``f_t [B, H, W, C_t]``
  the target task's features (queries) and ``e_s [B, H', W', C_s]`` the features
  extracted from the source task (keys and values):

      q = W_q P(f_t),   k = W_k P(e_s),   v = W_v P(e_s)      (1x1 convs, biased)
      xTAM(f_t, e_s) = alpha ⊙ U(attend(q, k, v))              ([B, H, W, features])

  where ``P`` is ``pool`` by ``self.pool`` (the attention matrix is
  ``(HW / pool^2) x (H'W' / pool^2)`` per example: pooling is what keeps it
  affordable at fine stages), ``attend`` the softmax over the pooled source
  positions, ``U`` a bilinear resize back to ``H x W`` and ``alpha [features]``
  a learnable per-channel scale initialised to ZERO: the term is exactly zero at
  initialisation (the network starts as if it had no cross-task attention, as
  in DANet's position attention) and ``alpha`` gets a non-zero gradient, so the
  attention is learned in.

  Attributes:
    features: channels of q, k, v and of the output.
    pool: pooling factor of queries, keys and values (1: full resolution).

  Example:
    >>> import jax, jax.numpy as jnp
    >>> module = XTAM(features=4, pool=2)
    >>> f_t, e_s = jnp.ones((1, 4, 4, 3)), jnp.ones((1, 4, 4, 5))
    >>> out, variables = jax.jit(module.init_with_output)(jax.random.key(0), f_t, e_s)
    >>> out.shape, float(jnp.abs(out).max())  # Zero at initialisation.
    ((1, 4, 4, 4), 0.0)
  """
  features: int
  pool: int = 1

  @nn.compact
  def __call__(self, target: jax.Array, source: jax.Array) -> jax.Array:
    if self.pool < 1:
      raise ValueError(f"XTAM.pool must be >= 1, got {self.pool}")
    pooled_target, pooled_source = pool(target, self.pool), pool(source, self.pool)
    q = nn.Dense(self.features, name="query")(pooled_target)
    k = nn.Dense(self.features, name="key")(pooled_source)
    v = nn.Dense(self.features, name="value")(pooled_source)
    attended = upsample_to(attend(q, k, v), target)
    scale = self.param("scale", nn.initializers.zeros, (self.features,))
    return scale * attended
