"""CAGrad: conflict-averse gradient descent (Liu et al., NeurIPS 2021)."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from mtl_jax.balancers import _solvers
from mtl_jax.balancers import base

_SMOOTH = 1e-10  # F uses sqrt(w^T G w + _SMOOTH) in the iterative stage (G has trace 1)


class CAGradState(NamedTuple):
  weights: jax.Array  # [T] w with update = sum_t w_t g_t


def cagrad_dual(gram: jax.Array, c: float, num_iters: int = 250, rounds: int = 3) -> jax.Array:
  """``argmin_{w in simplex} g_w^T g_0 + c ||g_0|| ||g_w||`` on a trace-normalised Gramian.

  ``g_w = sum_t w_t g_t`` and ``g_0`` the mean gradient. Solved by projected
  accelerated gradient with backtracking on a smoothed objective, then, on the
  support S of the iterate, the exact KKT point: with ``z = phi w / ||g_w||``,
  ``G_SS z = nu 1 - (G b)_S`` and ``z^T G_SS z = phi^2`` give ``nu`` as the larger
  root of a quadratic, and ``w = z / 1^T z``.
  """
  n = gram.shape[0]
  b = jnp.full((n,), 1.0 / n, gram.dtype)
  lin = _solvers.matvec(gram, b)
  phi = c * jnp.sqrt(jnp.maximum(jnp.vdot(b, lin), 0.0))
  quad = lambda w: jnp.maximum(jnp.vdot(w, _solvers.matvec(gram, w)), 0.0)
  fun = lambda w: jnp.vdot(lin, w) + phi * jnp.sqrt(quad(w) + _SMOOTH)

  def polish(w):
    m = (w > 1e-5 * jnp.max(w)).astype(gram.dtype)
    sub = gram * m[:, None] * m[None, :]
    pinv = jnp.linalg.pinv(sub, hermitian=True)
    a, e = _solvers.matvec(pinv, m), _solvers.matvec(pinv, m * lin)
    aa, bb, cc = jnp.vdot(m, a), jnp.vdot(m, e), jnp.vdot(m * lin, e)
    disc = bb * bb - aa * (cc - phi * phi)
    nu = (bb + jnp.sqrt(jnp.maximum(disc, 0.0))) / jnp.where(aa > 1e-12, aa, 1.0)
    z = (nu * a - e) * m
    residual = _solvers.matvec(sub, z) - m * (nu - lin)
    total = jnp.sum(z)
    feasible = ((aa > 1e-12) & (disc >= 0) & (total > 0) & jnp.all(z >= -1e-6 * total)
                & (jnp.linalg.norm(residual) <= 1e-4 * (jnp.abs(nu) + phi + 1e-6)))
    w_pol = jnp.maximum(z, 0.0) / jnp.where(total > 0, total, 1.0)
    return w_pol, feasible

  lip = jnp.maximum(jnp.linalg.eigvalsh(gram)[-1], 1e-6)
  iterate = lambda w: _solvers.fista(fun, optax.projections.projection_simplex, w, lip, num_iters,
                                    True)
  return _solvers.refine(fun, iterate, polish, b, rounds)


def cagrad(num_tasks: int, c: float = 0.5, rescale: int = 0, norm_eps: float = 1e-4,
           num_iters: int = 250, rounds: int = 3, heads: str = "own") -> base.Balancer:
  """CAGrad: ``d = argmax_{||d - g_0|| <= c ||g_0||} min_t <g_t, d>``.

  Liu et al., "Conflict-Averse Gradient Descent for Multi-task Learning",
  NeurIPS 2021, Algorithm 1. ``g_0`` is the mean gradient. Through the dual
  ``w* = argmin_{w in simplex} g_w^T g_0 + c ||g_0|| ||g_w||`` (see
  ``cagrad_dual``), ``d = g_0 + c ||g_0|| g_w* / ||g_w*||``, i.e. the weights
  ``1/T + c ||g_0|| w* / ||g_w*||``. Follows torchjd's ``CAGrad`` by default
  (Gramian trace-normalised; weights zero when ``||g_w*||`` of the normalised
  Jacobian is below ``norm_eps``, i.e. when 0 is nearly in the convex hull of
  the rows, where ``d`` is undefined; no rescale), with one difference: torchjd
  also zeroes the Gramian when ``||J||_F^2 < norm_eps`` (an absolute
  threshold), which turns small gradients into a zero update; here only an
  exactly zero Gramian is, so the method is scale invariant. ``rescale`` gives
  the official
  code's (and LibMTL's) options: 0 -> ``d``, 1 -> ``d / (1 + c^2)`` (their
  default), 2 -> ``d / (1 + c)``.

  Args:
    num_tasks: T.
    c: the radius of the ball around ``g_0``, relative to ``||g_0||``.
    rescale: 0, 1 or 2, as above.
    norm_eps: the threshold on ``||g_w*|| / ||J||_F``.
    num_iters: iterations of the projected-gradient stage per round.
    rounds: rounds of iterate-then-polish.
    heads: ``"own"`` (the official code: the sum of the task losses'
      gradients) or ``"weighted"`` (``w_t grad L_t``), what task-specific
      parameters receive.

  Returns:
    A ``Balancer``.

  Example:
    >>> import jax.numpy as jnp
    >>> from mtl_jax import balancers
    >>> b = balancers.cagrad(num_tasks=2, c=0.5)
    >>> jacobian = jnp.array([[-4., 1., 1.], [6., 1., 1.]])
    >>> updates, state = b.update(jacobian, b.init(None))
    >>> [round(v, 4) for v in updates.tolist()]
    [0.1835, 1.2041, 1.2041]
  """
  if c < 0:
    raise ValueError(f"cagrad: c must be non-negative, got {c}.")
  if rescale not in (0, 1, 2):
    raise ValueError(f"cagrad: rescale must be 0, 1 or 2, got {rescale}.")
  divisor = (1.0, 1.0 + c * c, 1.0 + c)[rescale]

  def init(params):
    del params
    return CAGradState(weights=jnp.full((num_tasks,), 1.0 / num_tasks, jnp.float32))

  def weigh_gramian(gram, state, *, task_losses=None, key=None):
    del state, task_losses, key
    gram = _solvers.trace_normalize(gram)
    w = cagrad_dual(gram, c, num_iters, rounds)
    b = jnp.full((num_tasks,), 1.0 / num_tasks, gram.dtype)
    phi = c * jnp.sqrt(jnp.maximum(jnp.vdot(b, _solvers.matvec(gram, b)), 0.0))
    gw_norm = jnp.sqrt(jnp.maximum(jnp.vdot(w, _solvers.matvec(gram, w)), 0.0))
    ok = gw_norm >= norm_eps
    weights = jnp.where(ok, b + phi / jnp.where(ok, gw_norm, 1.0) * w, 0.0) / divisor
    return weights, CAGradState(weights=weights)

  return base.gramian_weighting(
      num_tasks, "cagrad", init, weigh_gramian,
      head_weights=base.head_convention("cagrad", heads, lambda state: state.weights))
