"""MGDA: the min-norm point of the convex hull of the task gradients (Sener & Koltun 2018)."""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from mtl_jax.balancers import _solvers
from mtl_jax.balancers import base

NORMALIZATIONS = ("none", "l2", "loss", "loss+")


class MGDAState(NamedTuple):
  weights: jax.Array  # [T] on the simplex


def mgda(num_tasks: int, normalization: str = "none", num_iters: int = 250,
         rounds: int = 3, heads: str = "weighted") -> base.Balancer:
  """MGDA: ``w = argmin_{w in simplex} ||sum_t w_t g_t / n_t||^2``, update ``sum_t w_t g_t``.

  Sener & Koltun, "Multi-Task Learning as Multi-Objective Optimization",
  NeurIPS 2018 (the multiple-gradient descent algorithm of Desideri 2012).
  The normalisers ``n_t`` are those of the paper's code:
  ``"none"``: 1 (torchjd's ``MGDA``, the default); ``"l2"``: ``||g_t||``;
  ``"loss"``: ``L_t``; ``"loss+"``: ``L_t ||g_t||``. As in that code, the
  weights found on the normalised gradients multiply the raw gradients (it
  weighs the raw losses). A zero normaliser is replaced by 1.

  Solver: instead of the paper's Frank-Wolfe (which torchjd runs for at most
  100 iterations), an accelerated projected-gradient method on the simplex
  (``num_iters`` iterations per round) followed by an exact KKT solve on the
  active set, for ``rounds`` rounds (see ``_solvers.simplex_qp``); it gives the
  min-norm point to float32 precision whenever the face it lies on determines
  ``w``. The Gramian is trace-normalised first (``w`` is scale invariant).

  As in the authors' training code, which back-propagates ``sum_t w_t L_t``,
  task-specific parameters receive ``w_t grad L_t`` (``heads="weighted"``);
  ``"own"`` gives them their raw gradient.

  Args:
    num_tasks: T.
    normalization: one of ``"none"``, ``"l2"``, ``"loss"``, ``"loss+"``.
    num_iters: iterations of the projected-gradient stage per round.
    rounds: rounds of iterate-then-polish.
    heads: ``"weighted"`` or ``"own"``, what task-specific parameters receive.

  Returns:
    A ``Balancer``; ``"loss"`` and ``"loss+"`` need ``task_losses``.

  Example:
    >>> import jax.numpy as jnp
    >>> from mtl_jax import balancers
    >>> b = balancers.mgda(num_tasks=2)
    >>> jacobian = jnp.array([[-4., 1., 1.], [6., 1., 1.]])
    >>> updates, state = b.update(jacobian, b.init(None))
    >>> [round(v, 4) for v in updates.tolist()], [round(v, 4) for v in state.weights.tolist()]
    ([0.0, 1.0, 1.0], [0.6, 0.4])
  """
  if normalization not in NORMALIZATIONS:
    raise ValueError(f"mgda: normalization must be one of {NORMALIZATIONS}, got {normalization!r}.")

  def init(params):
    del params
    return MGDAState(weights=jnp.full((num_tasks,), 1.0 / num_tasks, jnp.float32))

  def weigh_gramian(gram, state, *, task_losses=None, key=None):
    del state, key
    norms = jnp.sqrt(jnp.maximum(jnp.diagonal(gram), 0.0))
    if normalization == "none":
      scale = jnp.ones_like(norms)
    elif normalization == "l2":
      scale = norms
    else:
      losses = base.require_losses(task_losses, num_tasks, "mgda")
      scale = losses if normalization == "loss" else losses * norms
    scale = jnp.where(scale > 0, scale, 1.0)
    gram = _solvers.trace_normalize(gram / (scale[:, None] * scale[None, :]))
    weights = _solvers.simplex_qp(gram, jnp.zeros((num_tasks,), gram.dtype), num_iters, rounds)
    return weights, MGDAState(weights=weights)

  return base.gramian_weighting(
      num_tasks, "mgda", init, weigh_gramian,
      head_weights=base.head_convention("mgda", heads, lambda state: state.weights))
