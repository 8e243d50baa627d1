"""Nash-MTL: the Nash bargaining solution of the tasks (Navon et al., ICML 2022)."""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from mtl_jax.balancers import _solvers
from mtl_jax.balancers import base


class NashMTLState(NamedTuple):
  weights: jax.Array  # [T] alpha after the max_norm bound: the weights used
  alpha: jax.Array  # [T] the last solution of G alpha = 1 / alpha (before the bound)
  loss_weights: jax.Array  # [T] sqrt(||G||_F) alpha: the official code's loss weights
  step: jax.Array  # [] int32, number of updates so far


def nash_alpha(gram: jax.Array, num_iters: int = 50, reg_eps: float = 1e-8) -> jax.Array:
  """The ``alpha > 0`` with ``G alpha = 1 / alpha``: the minimiser of ``1/2 a^T G a - sum log a``.

  Solved on the cosine matrix of the task gradients: with ``G = D C D``
  (``D = diag(||g_t||)``) and ``beta = D alpha``, the equation is ``C beta =
  1 / beta``, so ``beta`` depends on the gradients' directions only and
  ``alpha = D^-1 beta``; the update ``sum_t alpha_t g_t = sum_t beta_t u_t``
  is then exactly invariant to each task's gradient scale, as the Nash
  bargaining solution is (invariance to affine transformations of the
  utilities is one of its axioms), also in float32 when the scales span many
  orders of magnitude (``G`` itself then spans their squares). ``beta`` minimises the
  function above for ``C``, which is strictly convex (for ``C + reg I``) and
  self-concordant, so Newton's method with a backtracking line search (kept
  inside ``beta > 0``) converges from ``beta = 1`` in a few steps, full steps
  once the Newton decrement is below 1/4; ``num_iters`` is fixed. It is solved
  on ``C_n = C / ||C||_F`` (the official code's normalisation, here of ``C``)
  with ``reg_eps/2 ||b||^2`` added to the objective, which keeps ``beta`` finite (at most about ``reg_eps^{-1/2}`` in
  normalised units) when no solution exists, e.g. for two opposite gradients,
  and perturbs the solution by a relative ``~reg_eps / lambda_min(C_n)``; then
  ``beta = b / sqrt(||C||_F)``. A zero gradient gets ``alpha_t = 0``.
  """
  n = gram.shape[0]
  norms = jnp.sqrt(jnp.maximum(jnp.diagonal(gram), 0.0))
  nonzero = norms > 0
  inv_norms = jnp.where(nonzero, 1.0 / jnp.where(nonzero, norms, 1.0), 0.0)
  cosines = gram * inv_norms[:, None] * inv_norms[None, :]
  scale = jnp.linalg.norm(cosines)
  scale = jnp.where(scale > 0, scale, 1.0)
  g = cosines / scale

  def fun(a):
    safe = jnp.where(a > 0, a, 1.0)
    val = 0.5 * (jnp.vdot(a, _solvers.matvec(g, a)) + reg_eps * jnp.vdot(a, a))
    return jnp.where(jnp.all(a > 0), val - jnp.sum(jnp.log(safe)), jnp.inf)

  def body(_, a):
    # reg_eps enters as its own term (not added to C's diagonal, where float32
    # would round it away).
    grad = _solvers.matvec(g, a) + reg_eps * a - 1.0 / a
    hess = g + jnp.diag(reg_eps + 1.0 / (a * a))
    step = -jnp.linalg.solve(hess, grad)
    f0, slope = fun(a), jnp.vdot(grad, step)
    t = jax.lax.while_loop(
        lambda t: (fun(a + t * step) > f0 + 0.25 * t * slope) & (t > 1e-9),
        lambda t: 0.5 * t, jnp.ones((), a.dtype))
    # Close to the minimiser (Newton decrement below 1/4) the full step is
    # feasible and converges quadratically; the line search's test of function
    # values would stall there at float32's sqrt(eps) in beta.
    t = jnp.where(-slope < 1.0 / 16.0, 1.0, t)
    a_new = a + t * step
    return jnp.where(jnp.all(a_new > 0) & jnp.all(jnp.isfinite(a_new)), a_new, a)

  b = jax.lax.fori_loop(0, num_iters, body, jnp.ones((n,), gram.dtype))
  return b / jnp.sqrt(scale) * inv_norms


def nash_mtl(num_tasks: int, max_norm: float = 1.0, update_weights_every: int = 1,
             num_iters: int = 50, reg_eps: float = 1e-8, heads: str = "weighted"
             ) -> base.Balancer:
  """Nash-MTL: weights ``alpha`` solving ``G alpha = 1 / alpha``, ``alpha > 0``.

  Navon et al., "Multi-Task Learning as a Bargaining Game", ICML 2022,
  Algorithm 1. The update ``d = sum_t alpha_t g_t`` then satisfies
  ``<d, alpha_t g_t> = 1`` for every task (the Nash bargaining solution). The
  paper approximates it by a sequence of convex programs (cvxpy); here Newton's
  method on ``1/2 a^T G a - sum log a`` solves it exactly (see ``nash_alpha``).
  Step bound (the official code's and torchjd's convention, the default):
  when ``max_norm > 0`` and ``||d|| > max_norm``, ``alpha`` is scaled so that
  ``||d|| = max_norm`` (the exact solution always has ``||d||^2 = T``);
  ``max_norm = 0`` disables the bound. ``update_weights_every = k`` re-solves
  only every k-th update and reuses the last ``alpha`` in between (the bound is
  applied every time).

  Task-specific parameters: the official code back-propagates ``sum_t a_t L_t``
  with ``a`` solved on ``G / ||G||_F`` (``a = sqrt(||G||_F) alpha``) and then
  bounds the shared parameters' gradient alone, so ``heads="weighted"`` gives
  task t's parameters ``a_t grad L_t`` (``state.loss_weights``); ``"own"`` their
  raw gradient.

  Args:
    num_tasks: T.
    max_norm: the bound on ``||d||``; 0 for none.
    update_weights_every: how often ``alpha`` is recomputed.
    num_iters: Newton iterations.
    reg_eps: the weight of ``||a||^2 / 2`` in the normalised problem.
    heads: ``"weighted"`` or ``"own"``, what task-specific parameters receive.

  Returns:
    A ``Balancer``; its state's ``weights`` are the bounded ``alpha``.

  Example:
    >>> import jax.numpy as jnp
    >>> from mtl_jax import balancers
    >>> b = balancers.nash_mtl(num_tasks=2)
    >>> jacobian = jnp.array([[-4., 1., 1.], [6., 1., 1.]])
    >>> updates, state = b.update(jacobian, b.init(None))
    >>> [round(v, 4) for v in updates.tolist()]
    [0.0542, 0.7061, 0.7061]
  """
  if update_weights_every < 1:
    raise ValueError(f"nash_mtl: update_weights_every must be >= 1, got {update_weights_every}.")

  def init(params):
    del params
    ones = lambda: jnp.ones((num_tasks,), jnp.float32)
    # Distinct arrays: a donated train state must not hold one buffer twice.
    return NashMTLState(weights=ones(), alpha=ones(), loss_weights=ones(),
                        step=jnp.zeros((), jnp.int32))

  def weigh_gramian(gram, state, *, task_losses=None, key=None):
    del task_losses, key
    fresh = state.step % update_weights_every == 0
    alpha = jnp.where(fresh, nash_alpha(gram, num_iters, reg_eps), state.alpha)
    loss_weights = jnp.where(fresh, jnp.sqrt(jnp.linalg.norm(gram)) * alpha, state.loss_weights)
    weights = alpha
    if max_norm > 0:
      norm = jnp.sqrt(jnp.maximum(jnp.vdot(alpha, _solvers.matvec(gram, alpha)), 0.0))
      weights = jnp.where(norm > max_norm, alpha * (max_norm / jnp.where(norm > 0, norm, 1.0)),
                          alpha)
    return weights, NashMTLState(weights=weights, alpha=alpha, loss_weights=loss_weights,
                                 step=state.step + 1)

  return base.gramian_weighting(
      num_tasks, "nash_mtl", init, weigh_gramian,
      head_weights=base.head_convention("nash_mtl", heads, lambda state: state.loss_weights))
