"""xTAM: DenseMTL's correlation-guided cross-task attention for one task pair s→t."""

import math
from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from mtl_jax.models.blocks.conv_block import norm_layer
from mtl_jax.models.blocks.resize import upsample_to

VARIANTS = ("official", "mtl_jax")


def subsample(x: jax.Array, factor: int) -> jax.Array:
  """Every ``factor``-th row and column of NHWC ``x``, from the first: ``floor(H / factor)``
  of them (PyTorch's nearest ``Upsample(scale_factor=1 / factor)``).

  >>> subsample(jnp.arange(12.0).reshape(1, 3, 4, 1), 2)[0, ..., 0].tolist()
  [[0.0, 2.0]]
  """
  if factor == 1:
    return x
  h, w = x.shape[1] // factor, x.shape[2] // factor
  return x[:, :h * factor:factor, :w * factor:factor]


def max_pool(x: jax.Array, factor: int) -> jax.Array:
  """``factor x factor`` max pooling with stride ``factor``, no padding (``MaxPool2d(s, s)``).

  >>> max_pool(jnp.arange(12.0).reshape(1, 3, 4, 1), 2)[0, ..., 0].tolist()
  [[5.0, 7.0]]
  """
  if factor == 1:
    return x
  window = (factor, factor)
  return nn.max_pool(x, window, strides=window, padding="VALID")


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

  the softmax taken over the ``h' w'`` source positions, the ``1 / sqrt(C)``
  of Vaswani et al. 2017, as the official DenseMTL code divides by it too.

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

      q = phi_q(D_t(f_t)),   k = phi_k(D_s(e_s)),   v = phi_v(D_s(e_s))
      xTAM(f_t, e_s) = alpha ⊙ U(attend(q, k, v))              ([B, H, W, features])

  where ``attend`` is the softmax over the reduced source positions (the
  attention matrix is ``(HW / pool^2) x (H'W' / pool^2)`` per example: reducing
  is what keeps it affordable at fine stages) and ``alpha [features]`` a
  learnable per-channel scale initialised to ZERO: the term is exactly zero at
  initialisation (the network starts as if it had no cross-task attention, as
  in DANet's position attention) and ``alpha`` gets a non-zero gradient, so the
  attention is learned in. ``variant``:

  * ``"official"`` (default), the authors' ``SxTAM``: ``phi`` a 1x1 convolution
    without a bias, a batch norm (``norm``) and a ReLU; ``D_t`` ``subsample``
    (nearest), ``D_s`` ``max_pool``, by ``pool`` (at most the grid's size); ``U``
    a nearest-neighbour resize back to ``H x W``;
  * ``"mtl_jax"``: ``phi`` a biased 1x1 convolution, ``D_t = D_s`` average
    pooling (``pool``), ``U`` a bilinear resize.

  Attributes:
    features: channels of q, k, v and of the output.
    pool: the reduction factor of queries, keys and values (1: full resolution).
    variant: ``"official"`` or ``"mtl_jax"``.
    norm: the official variant's norm, "batch", "group" or "none".
    axis_name: the data-parallel axis batch norm synchronises over (or None).

  Example:
    >>> import jax, jax.numpy as jnp
    >>> module = XTAM(features=4, pool=2, norm="none")
    >>> f_t, e_s = jnp.ones((1, 4, 4, 3)), jnp.ones((1, 4, 4, 5))
    >>> out, variables = jax.jit(module.init_with_output)(jax.random.key(0), f_t, e_s)
    >>> out.shape, float(jnp.abs(out).max())  # Zero at initialisation.
    ((1, 4, 4, 4), 0.0)
  """
  features: int
  pool: int = 1
  variant: str = "official"
  norm: str = "batch"
  axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, target: jax.Array, source: jax.Array, train: bool = False) -> jax.Array:
    if self.pool < 1:
      raise ValueError(f"XTAM.pool must be >= 1, got {self.pool}")
    if self.variant not in VARIANTS:
      raise ValueError(f"xtam: unknown variant {self.variant!r}; known: {', '.join(VARIANTS)}")
    if self.variant == "mtl_jax":
      pooled_target, pooled_source = pool(target, self.pool), pool(source, self.pool)
      q = nn.Dense(self.features, name="query")(pooled_target)
      k = nn.Dense(self.features, name="key")(pooled_source)
      v = nn.Dense(self.features, name="value")(pooled_source)
      attended = upsample_to(attend(q, k, v), target)
    else:
      def project(x, name):
        normed = self.norm != "none"
        x = nn.Conv(self.features, (1, 1), use_bias=not normed, name=name)(x)
        if normed:
          x = norm_layer(self.norm, self.features, train, self.axis_name, name=f"{name}_norm")(x)
        return nn.relu(x)
      # A factor larger than the grid reduces it to one row or column.
      factor = min(self.pool, *target.shape[1:3], *source.shape[1:3])
      reduced = max_pool(source, factor)
      q = project(subsample(target, factor), "query")
      attended = attend(q, project(reduced, "key"), project(reduced, "value"))
      b, _, _, c = attended.shape
      attended = jax.image.resize(attended, (b, *target.shape[1:3], c), "nearest")
    scale = self.param("scale", nn.initializers.zeros, (self.features,))
    return scale * attended
