"""Small jittable solvers for the T x T problems of the Gramian balancers.

The problems are tiny (T variables) but must run inside ``jax.jit`` with no
host solver, so each one is solved in two stages with fixed iteration counts:

1. FISTA (Beck & Teboulle 2009, accelerated projected gradient) with adaptive
   restart (O'Donoghue & Candes 2015), which converges from any start and
   finds which constraints are active;
2. a "polish" step that solves the KKT system on that active set exactly
   (a pseudo-inverse of a masked T x T system). The polished point is kept
   only when it is feasible and no worse than the iterate, so a wrong active
   set can never make the answer worse.

The two stages alternate for a few rounds. Everything is float32 at the
highest matmul precision.
"""

from typing import Callable

import jax
import jax.numpy as jnp
import optax

_HI = jax.lax.Precision.HIGHEST


def matvec(a: jax.Array, x: jax.Array) -> jax.Array:
  return jnp.matmul(a, x, precision=_HI)


def trace_normalize(gramian: jax.Array, eps: float = 0.0) -> jax.Array:
  """``G / tr(G)`` (``G`` of the Frobenius-normalised Jacobian); zeros if ``tr(G) <= eps``."""
  tr = jnp.trace(gramian)
  ok = tr > eps
  return jnp.where(ok, gramian / jnp.where(ok, tr, 1.0), 0.0)


def fista(fun: Callable, project: Callable, x0: jax.Array, lipschitz: jax.Array,
          num_iters: int, backtrack: bool = False) -> jax.Array:
  """Minimises a smooth convex ``fun`` over a set given by its projection.

  Args:
    fun: the objective, ``[n] -> []``.
    project: Euclidean projection onto the feasible set.
    x0: a feasible start.
    lipschitz: the Lipschitz constant of ``grad fun`` (the initial estimate
      when ``backtrack``).
    num_iters: the fixed number of iterations.
    backtrack: whether to adapt the step by backtracking (doubling the
      estimate, at most 30 times an iteration, and relaxing it by 1.5 each
      iteration, never below ``1e-6 lipschitz``: an iterate that stops moving
      would otherwise relax it to 0 and step by ``gy / 0``) instead of a
      fixed ``1 / lipschitz`` step.

  Returns:
    The last iterate.
  """
  value_and_grad = jax.value_and_grad(fun)

  def body(_, carry):
    x, y, t, lip = carry
    fy, gy = value_and_grad(y)

    def attempt(lip):
      x_new = project(y - gy / lip)
      d = x_new - y
      bound = fy + jnp.vdot(gy, d) + 0.5 * lip * jnp.vdot(d, d)
      return x_new, fun(x_new) <= bound + 1e-7 * jnp.abs(fy)

    if backtrack:
      lip = jnp.maximum(lip / 1.5, lip_floor)
      x_new, ok = attempt(lip)
      x_new, _, _, lip = jax.lax.while_loop(
          lambda c: ~c[1] & (c[2] < 30),
          lambda c: (*attempt(2.0 * c[3]), c[2] + 1, 2.0 * c[3]),
          (x_new, ok, 0, lip))
    else:
      x_new = project(y - gy / lip)
    t_new = 0.5 * (1.0 + jnp.sqrt(1.0 + 4.0 * t * t))
    restart = jnp.vdot(y - x_new, x_new - x) > 0
    y_new = jnp.where(restart, x_new, x_new + (t - 1.0) / t_new * (x_new - x))
    return x_new, y_new, jnp.where(restart, 1.0, t_new), lip

  lip = jnp.asarray(lipschitz, x0.dtype)
  lip_floor = 1e-6 * lip
  init = (x0, x0, jnp.ones((), x0.dtype), lip)
  return jax.lax.fori_loop(0, num_iters, body, init)[0]


def refine(fun: Callable, iterate: Callable, polish: Callable, x0: jax.Array,
           rounds: int) -> jax.Array:
  """Alternates ``iterate`` and ``polish``; keeps a polished point when no worse."""
  def body(_, x):
    x = iterate(x)
    x_pol, feasible = polish(x)
    fx, fp = fun(x), fun(x_pol)
    keep = feasible & jnp.all(jnp.isfinite(x_pol)) & (
        fp <= fx + 1e-6 * (jnp.abs(fx) + 1e-6))
    return jnp.where(keep, x_pol, x)
  return jax.lax.fori_loop(0, rounds, body, x0)


def _lambda_max(q: jax.Array) -> jax.Array:
  return jnp.maximum(jnp.linalg.eigvalsh(q)[-1], 1e-12)


def simplex_qp(q: jax.Array, c: jax.Array, num_iters: int = 100,
               rounds: int = 3) -> jax.Array:
  """``argmin_{w >= 0, sum w = 1} 1/2 w^T Q w + c^T w`` for a PSD ``Q`` of scale ~1.

  Polish: on the support S of the iterate, the KKT system
  ``[[Q_SS, 1], [1^T, 0]] [w_S; -nu] = [-c_S; 1]`` (pseudo-inverse, so a
  singular ``Q_SS`` is fine).
  """
  n = q.shape[0]
  fun = lambda w: 0.5 * jnp.vdot(w, matvec(q, w)) + jnp.vdot(c, w)
  lip = _lambda_max(q)

  def polish(w):
    m = (w > 1e-5 * jnp.max(w)).astype(q.dtype)
    kkt = jnp.zeros((n + 1, n + 1), q.dtype)
    kkt = kkt.at[:n, :n].set(q * m[:, None] * m[None, :] + jnp.diag(1.0 - m))
    kkt = kkt.at[:n, n].set(m).at[n, :n].set(m)
    rhs = jnp.concatenate([-c * m, jnp.ones((1,), q.dtype)])
    w_pol = matvec(jnp.linalg.pinv(kkt, hermitian=True), rhs)[:n] * m
    feasible = jnp.all(w_pol >= -1e-6) & (jnp.abs(jnp.sum(w_pol) - 1.0) < 1e-4)
    w_pol = jnp.maximum(w_pol, 0.0)
    return w_pol / jnp.maximum(jnp.sum(w_pol), 1e-12), feasible

  iterate = lambda w: fista(fun, optax.projections.projection_simplex, w, lip, num_iters)
  return refine(fun, iterate, polish, jnp.full((n,), 1.0 / n, q.dtype), rounds)


def lower_bounded_qp(q: jax.Array, lower: jax.Array, num_iters: int = 100,
                     rounds: int = 3) -> jax.Array:
  """``argmin_{v >= lower} 1/2 v^T Q v`` for a PSD ``Q`` of scale ~1.

  Polish: with F the coordinates strictly above their bound and the others
  fixed at it, ``Q_FF v_F = -Q_{F,~F} lower_~F`` (pseudo-inverse).
  """
  fun = lambda v: 0.5 * jnp.vdot(v, matvec(q, v))
  project = lambda v: jnp.maximum(v, lower)
  lip = _lambda_max(q)

  def polish(v):
    scale = jnp.max(jnp.abs(v)) + 1e-12
    m = (v - lower > 1e-5 * scale).astype(q.dtype)
    fixed = (1.0 - m) * lower
    system = q * m[:, None] * m[None, :] + jnp.diag(1.0 - m)
    rhs = -m * matvec(q, fixed) + fixed
    v_pol = matvec(jnp.linalg.pinv(system, hermitian=True), rhs)
    feasible = jnp.all(v_pol >= lower - 1e-6 * scale)
    return jnp.maximum(v_pol, lower), feasible

  iterate = lambda v: fista(fun, project, v, lip, num_iters)
  return refine(fun, iterate, polish, lower, rounds)
