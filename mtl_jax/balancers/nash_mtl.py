"""Nash-MTL: the Nash bargaining solution of the tasks (Navon et al., ICML 2022)."""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from mtl_jax.balancers import _solvers
from mtl_jax.balancers import base


class NashMTLState(NamedTuple):
  weights: jax.Array  # [T] alpha after the max_norm bound: the weights used
  alpha: jax.Array  # [T] the last solution of G alpha = 1 / alpha (before the bound)
  step: jax.Array  # [] int32, number of updates so far


def nash_alpha(gram: jax.Array, num_iters: int = 50, reg_eps: float = 1e-8) -> jax.Array:
  """The ``alpha > 0`` with ``G alpha = 1 / alpha``: the minimiser of ``1/2 a^T G a - sum log a``.

  That function is strictly convex (for ``G + reg I``) and self-concordant, so
  Newton's method with a backtracking line search (kept inside ``alpha > 0``)
  converges from ``alpha = 1`` in a few steps; ``num_iters`` is fixed. It is
  solved on ``G_n = G / ||G||_F`` (the official code's normalisation) with
  ``reg_eps/2 ||a||^2`` added to the objective, which keeps ``alpha`` finite
  (at most about ``reg_eps^{-1/2}`` in normalised units) when no solution
  exists, e.g. for a zero gradient or two opposite ones, and perturbs the
  solution by a relative ``~reg_eps / lambda_min(G_n)``. It is mapped back by
  ``alpha = beta / sqrt(||G||_F)``, which solves ``G alpha = 1 / alpha``.
  """
  n = gram.shape[0]
  norm = jnp.linalg.norm(gram)
  norm = jnp.where(norm > 0, norm, 1.0)
  g = gram / norm

  def fun(a):
    safe = jnp.where(a > 0, a, 1.0)
    val = 0.5 * (jnp.vdot(a, _solvers.matvec(g, a)) + reg_eps * jnp.vdot(a, a))
    return jnp.where(jnp.all(a > 0), val - jnp.sum(jnp.log(safe)), jnp.inf)

  def body(_, a):
    # reg_eps enters as its own term (not added to G's diagonal, where float32
    # would round it away).
    grad = _solvers.matvec(g, a) + reg_eps * a - 1.0 / a
    hess = g + jnp.diag(reg_eps + 1.0 / (a * a))
    step = -jnp.linalg.solve(hess, grad)
    f0, slope = fun(a), jnp.vdot(grad, step)
    t = jax.lax.while_loop(
        lambda t: (fun(a + t * step) > f0 + 0.25 * t * slope) & (t > 1e-9),
        lambda t: 0.5 * t, jnp.ones((), a.dtype))
    a_new = a + t * step
    return jnp.where(jnp.all(a_new > 0) & jnp.all(jnp.isfinite(a_new)), a_new, a)

  beta = jax.lax.fori_loop(0, num_iters, body, jnp.ones((n,), gram.dtype))
  return beta / jnp.sqrt(norm)


def nash_mtl(num_tasks: int, max_norm: float = 1.0, update_weights_every: int = 1,
             num_iters: int = 50, reg_eps: float = 1e-8) -> base.Balancer:
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

  Args:
    num_tasks: T.
    max_norm: the bound on ``||d||``; 0 for none.
    update_weights_every: how often ``alpha`` is recomputed.
    num_iters: Newton iterations.
    reg_eps: the weight of ``||a||^2 / 2`` in the normalised problem.

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
    ones = jnp.ones((num_tasks,), jnp.float32)
    return NashMTLState(weights=ones, alpha=ones, step=jnp.zeros((), jnp.int32))

  def weigh_gramian(gram, state, *, task_losses=None, key=None):
    del task_losses, key
    fresh = state.step % update_weights_every == 0
    alpha = jnp.where(fresh, nash_alpha(gram, num_iters, reg_eps), state.alpha)
    weights = alpha
    if max_norm > 0:
      norm = jnp.sqrt(jnp.maximum(jnp.vdot(alpha, _solvers.matvec(gram, alpha)), 0.0))
      weights = jnp.where(norm > max_norm, alpha * (max_norm / jnp.where(norm > 0, norm, 1.0)),
                          alpha)
    return weights, NashMTLState(weights=weights, alpha=alpha, step=state.step + 1)

  return base.gramian_weighting(num_tasks, "nash_mtl", init, weigh_gramian)
