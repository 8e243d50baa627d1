"""IMTL-G: impartial gradient weighting (Liu et al., ICLR 2021)."""

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp

from mtl_jax.balancers import _solvers
from mtl_jax.balancers import base


class IMTLGState(NamedTuple):
  weights: jax.Array  # [T] alpha, summing to 1 (or all zero)


def imtl_g_weights(gram: jax.Array, loss_scales: Optional[jax.Array] = None) -> jax.Array:
  """IMTL-G's ``alpha`` from the Gramian, by the cosine matrix of the unit gradients.

  With ``g = sum_t alpha_t g_t`` and ``u_t = g_t / ||g_t||``, IMTL-G asks for
  ``<g, u_t>`` equal for every task and ``sum_t alpha_t = 1``. Writing
  ``G = D C D`` (``D = diag(||g_t||)``, ``C`` the cosines of the task
  gradients), ``<g, u_t> = (C D alpha)_t``, so ``D alpha`` is proportional to
  ``C^+ 1`` and ``alpha = D^-1 C^+ 1 / (1^T D^-1 C^+ 1)``. For independent rows
  this is ``G^-1 d / (1^T G^-1 d)``, the paper's closed form
  ``alpha_{2..T} = g_1 U^T (D U^T)^{-1}``, ``alpha_1 = 1 - sum alpha_{2..T}``;
  the pseudo-inverse extends it to dependent rows. Working on ``C`` (unit
  diagonal, whatever each task's gradient scale) keeps ``alpha`` exact in
  float32 when the tasks' gradient norms span many orders of magnitude, as
  IMTL-G's invariance to each task's scale promises; a pseudo-inverse of ``G``
  itself drops a task whose gradient is ~1000x smaller than another's. A zero
  gradient gets ``alpha_t = 0``; ``alpha = 0`` when the projections cannot be
  equalised (``|1^T D^-1 C^+ 1|`` below ``1e-6`` of ``sum |D^-1 C^+ 1|``,
  e.g. two opposite gradients) or there is no gradient at all.

  With ``loss_scales`` ``c_t > 0`` (IMTL-G on the gradients ``c_t g_t`` of
  scaled losses), the returned weights are the coefficients on the raw
  ``g_t``: the unit vectors, hence ``C``, do not change, and with ``v = D^-1
  C^+ 1`` the weights are ``c_t alpha'_t = v_t / sum_s (v_s / c_s)``.
  """
  norms = jnp.sqrt(jnp.maximum(jnp.diagonal(gram), 0.0))
  nonzero = norms > 0
  inv_norms = jnp.where(nonzero, 1.0 / jnp.where(nonzero, norms, 1.0), 0.0)
  cosines = gram * inv_norms[:, None] * inv_norms[None, :]
  beta = _solvers.matvec(jnp.linalg.pinv(cosines, hermitian=True), nonzero.astype(gram.dtype))
  v = beta * inv_norms
  if loss_scales is None:
    total = jnp.sum(v)
  else:
    ok_scale = loss_scales > 0
    total = jnp.sum(jnp.where(ok_scale, v / jnp.where(ok_scale, loss_scales, 1.0), 0.0))
  size = jnp.sum(jnp.abs(v))
  ok = (size > 0) & (jnp.abs(total) > 1e-6 * size)
  return jnp.where(ok, v / jnp.where(ok, total, 1.0), 0.0)


def imtl_g(num_tasks: int, heads: str = "own") -> base.Balancer:
  """IMTL-G: the combination with equal projections on every unit task gradient.

  Liu et al., "Towards Impartial Multi-task Learning", ICLR 2021. Finds
  ``alpha`` with ``sum_t alpha_t = 1`` such that ``g = sum_t alpha_t g_t`` has
  the same inner product with every ``u_t = g_t / ||g_t||``; see
  ``imtl_g_weights`` for the formula (a pseudo-inverse for linearly dependent
  rows, as torchjd's ``IMTLG``, taken on the cosine matrix, so the weights are
  invariant to each task's gradient scale in float32 too). The paper applies
  it to the gradients of the shared representation (feature level); any level
  works here.

  Task-specific parameters receive their own task's gradient (``heads="own"``,
  IMTL's update of the task parameters by their raw loss when no scale is
  learned); ``"weighted"`` gives them ``alpha_t grad L_t``.

  Args:
    num_tasks: T.
    heads: ``"own"`` or ``"weighted"``, what task-specific parameters receive.

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

  return base.gramian_weighting(
      num_tasks, "imtl_g", init, weigh_gramian,
      head_weights=base.head_convention("imtl_g", heads, lambda state: state.weights))
