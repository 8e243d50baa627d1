"""PCGrad: projecting conflicting gradients (Yu et al., NeurIPS 2020)."""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from mtl_jax.balancers import base


class PCGradState(NamedTuple):
  weights: jax.Array  # [T] w with update = sum_t w_t g_t
  key: jax.Array  # PRNG key, split every step when no key is passed


def pcgrad_weights(gram: jax.Array, orders: jax.Array) -> jax.Array:
  """PCGrad as coefficients on the rows: ``sum_i g_i^PC = sum_t w_t g_t``.

  ``g_i^PC`` starts as ``g_i`` (coefficients ``e_i``) and, for ``j`` in
  ``orders[i]`` (``j != i``), if ``<g_i^PC, g_j> < 0`` subtracts
  ``<g_i^PC, g_j> / ||g_j||^2 g_j``. Inner products come from the Gramian:
  ``<g_i^PC, g_j> = (G c_i)_j``.

  Args:
    gram: ``[T, T]``.
    orders: ``[T, T]`` integer permutations, one per projected task.

  Returns:
    ``[T]`` summed coefficients.
  """
  num_tasks = gram.shape[0]

  def project_one(i, order):
    def body(k, c):
      j = order[k]
      dot = jnp.vdot(gram[j], c)
      norm2 = gram[j, j]
      conflict = (j != i) & (dot < 0) & (norm2 > 0)
      step = jnp.where(conflict, dot / jnp.where(norm2 > 0, norm2, 1.0), 0.0)
      return c.at[j].add(-step)
    c0 = jax.nn.one_hot(i, num_tasks, dtype=gram.dtype)
    return jax.lax.fori_loop(0, num_tasks, body, c0)

  return jnp.sum(jax.vmap(project_one)(jnp.arange(num_tasks), orders), axis=0)


def pcgrad(num_tasks: int, reduction: str = "sum", seed: int = 0,
           heads: str = "own") -> base.Balancer:
  """PCGrad: project each task gradient onto the normal plane of those it conflicts with.

  Yu et al., "Gradient Surgery for Multi-Task Learning", NeurIPS 2020,
  Algorithm 1. For each task ``i`` and, in a random order, each other task
  ``j``: ``g_i <- g_i - min(0, <g_i, g_j>) / ||g_j||^2 g_j`` (``g_j`` is the
  original gradient); the update is ``sum_i g_i`` (``reduction="sum"``,
  torchjd's and the paper's convention) or their mean (``"mean"``, the
  official code). A fresh random order is drawn for every ``i`` (as in the
  paper and torchjd) from the ``key`` passed to ``update``, else from the
  state's key. The result is a combination ``sum_t w_t g_t`` computed on the
  Gramian; the state's ``weights`` are these ``w``. For T = 2 it is
  deterministic.

  Args:
    num_tasks: T.
    reduction: ``"sum"`` or ``"mean"`` of the projected gradients.
    seed: the seed of the key stored in the state.
    heads: ``"own"`` (the official code and LibMTL: each task's raw gradient)
      or ``"weighted"`` (``w_t grad L_t``), what task-specific parameters receive.

  Returns:
    A ``Balancer``.

  Example:
    >>> import jax.numpy as jnp
    >>> from mtl_jax import balancers
    >>> b = balancers.pcgrad(num_tasks=2)
    >>> jacobian = jnp.array([[-4., 1., 1.], [6., 1., 1.]])
    >>> updates, state = b.update(jacobian, b.init(None))
    >>> [round(v, 4) for v in updates.tolist()]
    [0.5848, 3.8012, 3.8012]
  """
  if reduction not in ("sum", "mean"):
    raise ValueError(f"pcgrad: reduction must be 'sum' or 'mean', got {reduction!r}.")
  scale = 1.0 if reduction == "sum" else 1.0 / num_tasks

  def init(params):
    del params
    return PCGradState(weights=jnp.full((num_tasks,), scale, jnp.float32),
                       key=jax.random.PRNGKey(seed))

  def weigh_gramian(gram, state, *, task_losses=None, key=None):
    del task_losses
    draw, state_key = base.next_key(state.key, key)
    keys = jax.random.split(draw, num_tasks)
    orders = jax.vmap(lambda k: jax.random.permutation(k, num_tasks))(keys)
    weights = scale * pcgrad_weights(gram, orders)
    return weights, PCGradState(weights=weights, key=state_key)

  return base.gramian_weighting(
      num_tasks, "pcgrad", init, weigh_gramian,
      head_weights=base.head_convention("pcgrad", heads, lambda state: state.weights))
