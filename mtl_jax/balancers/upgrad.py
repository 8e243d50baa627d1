"""UPGrad: unconflicting projection of gradients (Quinton & Rey, 2024; torchjd)."""

from typing import NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp

from mtl_jax.balancers import _solvers
from mtl_jax.balancers import base


class UPGradState(NamedTuple):
  weights: jax.Array  # [T] w with update = sum_t w_t g_t


def upgrad_weights(gram: jax.Array, pref: jax.Array, norm_eps: float = 0.0,
                   reg_eps: float = 1e-4, num_iters: int = 250, rounds: int = 3) -> jax.Array:
  """``sum_i v_i`` with ``v_i = argmin_{v >= pref_i e_i} v^T G' v``, ``G' = G / tr(G) + reg_eps I``.

  ``J^T v_i`` is the projection of ``pref_i g_i`` onto the dual cone
  ``{x : J x >= 0}`` (Proposition 1 of the paper); ``G / tr(G)`` is replaced by
  zeros when ``tr(G) <= norm_eps``. Each small QP is solved by
  ``_solvers.lower_bounded_qp`` (all T at once, vmapped).
  """
  g = _solvers.trace_normalize(gram, norm_eps) + reg_eps * jnp.eye(gram.shape[0], dtype=gram.dtype)
  lowers = jnp.diag(pref.astype(gram.dtype))
  v = jax.vmap(lambda u: _solvers.lower_bounded_qp(g, u, num_iters, rounds))(lowers)
  return jnp.sum(v, axis=0)


def upgrad(num_tasks: int, pref: Optional[Sequence[float]] = None, norm_eps: float = 0.0,
           reg_eps: float = 1e-4, num_iters: int = 250, rounds: int = 3,
           heads: str = "own") -> base.Balancer:
  """UPGrad: project every ``pref_i g_i`` onto the dual cone of the rows, and add them up.

  Quinton & Rey, "Jacobian Descent for Multi-Objective Optimization", 2024
  (arXiv:2406.16232), torchjd's ``UPGrad`` with its defaults ``pref = 1/T``
  (the mean) and ``reg_eps = 1e-4``. The update is
  ``sum_i pi(pref_i g_i)``, where ``pi`` projects onto ``{x : <x, g_t> >= 0 for
  all t}``, so it conflicts with no task (up to the ``reg_eps`` regularisation).
  In weights: ``update = J^T sum_i v_i`` with ``v_i`` the solution of the dual
  QP ``min v^T G v s.t. v >= pref_i e_i`` (see ``upgrad_weights``), which
  torchjd hands to quadprog on the host and we solve in jit
  (``_solvers.lower_bounded_qp``). When ``||J||_F^2 <= norm_eps`` the Gramian
  is treated as zero and the update is ``sum_i pref_i g_i``; torchjd's default
  is ``norm_eps = 1e-4``, an absolute threshold that turns off the projection
  for small gradients, so ours is 0 (scale invariant; pass 1e-4 for torchjd's).

  Args:
    num_tasks: T.
    pref: the preference vector ``[T]`` (default ``1/T`` each).
    norm_eps: the ``||J||_F^2`` at or below which the Gramian counts as zero.
    reg_eps: added to the diagonal of the trace-normalised Gramian.
    num_iters: iterations of the projected-gradient stage per round.
    rounds: rounds of iterate-then-polish.
    heads: ``"own"`` (torchjd's ``mtl_backward``: each task's raw gradient) or
      ``"weighted"`` (``w_t grad L_t``), what task-specific parameters receive.

  Returns:
    A ``Balancer``.

  Example:
    >>> import jax.numpy as jnp
    >>> from mtl_jax import balancers
    >>> b = balancers.upgrad(num_tasks=2)
    >>> jacobian = jnp.array([[-4., 1., 1.], [6., 1., 1.]])
    >>> updates, state = b.update(jacobian, b.init(None))
    >>> [round(v, 4) for v in updates.tolist()], [round(v, 4) for v in state.weights.tolist()]
    ([0.2929, 1.9004, 1.9004], [1.1109, 0.7894])
  """
  if pref is None:
    pref_arr = jnp.full((num_tasks,), 1.0 / num_tasks, jnp.float32)
  else:
    pref_arr = jnp.asarray(pref, jnp.float32)
    if pref_arr.shape != (num_tasks,):
      raise ValueError(f"upgrad: pref must have shape ({num_tasks},), got {pref_arr.shape}.")

  def init(params):
    del params
    return UPGradState(weights=pref_arr)

  def weigh_gramian(gram, state, *, task_losses=None, key=None):
    del state, task_losses, key
    weights = upgrad_weights(gram, pref_arr, norm_eps, reg_eps, num_iters, rounds)
    return weights, UPGradState(weights=weights)

  return base.gramian_weighting(
      num_tasks, "upgrad", init, weigh_gramian,
      head_weights=base.head_convention("upgrad", heads, lambda state: state.weights))
