"""IMTL-G: impartial gradient weighting (Liu et al., ICLR 2021)."""

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp

from mtl_jax.balancers import _solvers
from mtl_jax.balancers import base


class IMTLGState(NamedTuple):
  weights: jax.Array  # [T] alpha, summing to 1 (or all zero)


def imtl_g_weights(gram: jax.Array, loss_scales: Optional[jax.Array] = None) -> jax.Array:
  """IMTL-G's ``alpha`` from the Gramian: ``alpha = G^+ d / (1^T G^+ d)``, ``d_t = ||g_t||``.

  With ``g = sum_t alpha_t g_t``, ``G alpha = d / (1^T G^+ d)`` says that
  ``<g, g_t / ||g_t||>`` is the same for every task, which is the paper's
  condition; for independent rows this is the paper's closed form
  ``alpha_{2..T} = g_1 U^T (D U^T)^{-1}``, ``alpha_1 = 1 - sum alpha_{2..T}``.
  The pseudo-inverse extends it to dependent rows (torchjd's generalisation).
  The Gramian is trace-normalised first (``alpha`` is scale invariant), and
  ``alpha = 0`` when ``|1^T G^+ d| <= 1e-12`` (e.g. no gradient at all).

  With ``loss_scales`` ``c_t > 0`` (IMTL-G on the gradients ``c_t g_t`` of
  scaled losses), the returned weights are the coefficients on the raw
  ``g_t``: ``c_t alpha'_t = v_t / sum_s (v_s / c_s)`` with ``v = G^+ d``, which
  equals IMTL-G on ``c_t g_t`` for independent rows (the unit vectors do not
  change; only the normalisation ``sum alpha' = 1`` does) and avoids the
  ill-conditioning of the scaled Gramian.
  """
  g = _solvers.trace_normalize(gram)
  d = jnp.sqrt(jnp.maximum(jnp.diagonal(g), 0.0))
  v = _solvers.matvec(jnp.linalg.pinv(g, hermitian=True), d)
  if loss_scales is None:
    total = jnp.sum(v)
  else:
    ok_scale = loss_scales > 0
    total = jnp.sum(jnp.where(ok_scale, v / jnp.where(ok_scale, loss_scales, 1.0), 0.0))
  ok = jnp.abs(total) > 1e-12
  return jnp.where(ok, v / jnp.where(ok, total, 1.0), 0.0)


def imtl_g(num_tasks: int) -> base.Balancer:
  """IMTL-G: the combination with equal projections on every unit task gradient.

  Liu et al., "Towards Impartial Multi-task Learning", ICLR 2021. Finds
  ``alpha`` with ``sum_t alpha_t = 1`` such that ``g = sum_t alpha_t g_t`` has
  the same inner product with every ``u_t = g_t / ||g_t||``; see
  ``imtl_g_weights`` for the formula. Follows torchjd's ``IMTLG`` (pseudo-
  inverse for linearly dependent rows). The paper applies it to the gradients
  of the shared representation (feature level); any level works here.

  Args:
    num_tasks: T.

  Returns:
    A ``Balancer``; its state's ``weights`` are ``alpha``.

  Example:
    >>> import jax.numpy as jnp
    >>> from mtl_jax import balancers
    >>> b = balancers.imtl_g(num_tasks=2)
    >>> jacobian = jnp.array([[-4., 1., 1.], [6., 1., 1.]])
    >>> updates, state = b.update(jacobian, b.init(None))
    >>> [round(v, 4) for v in updates.tolist()]
    [0.0767, 1.0, 1.0]
  """
  def init(params):
    del params
    return IMTLGState(weights=jnp.full((num_tasks,), 1.0 / num_tasks, jnp.float32))

  def weigh_gramian(gram, state, *, task_losses=None, key=None):
    del state, task_losses, key
    weights = imtl_g_weights(gram)
    return weights, IMTLGState(weights=weights)

  return base.gramian_weighting(num_tasks, "imtl_g", init, weigh_gramian)
