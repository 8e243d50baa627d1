"""GradDrop: gradient sign dropout (Chen et al., NeurIPS 2020)."""

import functools
import operator
from typing import NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp

from mtl_jax.balancers import base


class GradDropState(NamedTuple):
  weights: jax.Array  # [T] share of ||g_t||^2 kept: sum <m_t g_t, g_t> / ||g_t||^2
  key: jax.Array  # PRNG key, split every step when no key is passed


def graddrop_leaf(g: jax.Array, uniform: jax.Array,
                  leak: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
  """One leaf ``[T, ...]``: ``(sum_t k_t, [<k_t, g_t>]_t, [||g_t||^2]_t)``.

  ``k_t = (leak_t + (1 - leak_t) M_t) g_t`` is what is kept of task t, with
  ``P = (1 + sum_t g_t / sum_t |g_t|) / 2`` (0.5 where every ``g_t`` is 0),
  ``M_t = [P > U][g_t > 0] + [P < U][g_t < 0]`` elementwise, ``U = uniform``.

  The sums over tasks are written out task by task (T is static) rather than as
  reductions over the leading axis: XLA then fuses ``P``, the masks and the
  output into one elementwise pass, where a reduction over the task axis (and
  reductions reading task slices) run several times slower on CPU. The two
  per-task sums are one reduction pass over the trailing axes of the leaf.
  """
  g = g.astype(jnp.float32)
  rows = [g[t] for t in range(g.shape[0])]
  total = functools.reduce(operator.add, rows)
  total_abs = functools.reduce(operator.add, [jnp.abs(row) for row in rows])
  purity = 0.5 * (1.0 + total / jnp.where(total_abs > 0, total_abs, 1.0))

  def kept(x, leak_x):
    keep = ((purity > uniform) & (x > 0)) | ((purity < uniform) & (x < 0))
    return jnp.where(keep, x, leak_x * x)

  out = functools.reduce(operator.add, [kept(row, leak[t]) for t, row in enumerate(rows)])
  leak_b = leak.reshape((-1,) + (1,) * (g.ndim - 1))
  rows_of = lambda x: x.reshape(g.shape[0], -1)
  kept_dot, norm2 = jax.lax.reduce(
      (rows_of(kept(g, leak_b) * g), rows_of(jnp.square(g))), (jnp.float32(0), jnp.float32(0)),
      lambda a, b: (a[0] + b[0], a[1] + b[1]), (1,))
  return out, kept_dot, norm2


def graddrop(num_tasks: int, leak: Optional[Sequence[float]] = None,
             seed: int = 0) -> base.Balancer:
  """GradDrop: keep, per coordinate, only the gradients of one randomly chosen sign.

  Chen et al., "Just Pick a Sign: Optimizing Deep Multitask Models with
  Gradient Sign Dropout", NeurIPS 2020, Algorithm 1 (lines 10-15, as torchjd's
  ``GradDrop``, identity purity function). Per coordinate, the positive sign
  purity ``P = (1 + sum_t g_t / sum_t |g_t|) / 2`` and ``U ~ Uniform(0, 1)``:
  task t's gradient is kept where ``P > U`` and ``g_t > 0`` or ``P < U`` and
  ``g_t < 0``; ``leak_t`` lets a share of the dropped part through. Not a
  combination ``sum_t w_t g_t``: it works leaf by leaf, drawing ``U`` for the
  i-th leaf (``jax.tree_util.tree_leaves`` order) from
  ``jax.random.fold_in(key, i)``, with ``key`` the one passed to ``update``,
  else a split of the state's key. The state's ``weights`` report the share of
  each task's squared gradient norm that was kept,
  ``sum <(leak + (1 - leak) M_t) g_t, g_t> / ||g_t||^2`` (1 for a zero gradient).
  The paper applies it to the gradients of activations (with an input-sign
  correction for batch-separated inputs); here it acts on whatever gradients
  it is given. On per-example gradients split over devices (the feature level
  of a data-parallel step), ``update_examples`` draws ``U`` per example from
  the example's index in the global batch, so no device holds another's
  examples and the result is that of any device count.

  Args:
    num_tasks: T.
    leak: ``[T]`` leak values in [0, 1] (default 0: no leak).
    seed: the seed of the key stored in the state.

  Returns:
    A ``Balancer``.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> from mtl_jax import balancers
    >>> b = balancers.graddrop(num_tasks=2)
    >>> jacobian = jnp.array([[-4., 1., 1.], [6., 1., 1.]])
    >>> updates, state = b.update(jacobian, b.init(None), key=jax.random.key(0))
    >>> updates[1:].tolist()  # every gradient is positive there: both kept
    [2.0, 2.0]
    >>> updates[0].item() in (-4.0, 6.0)
    True
  """
  leak_arr = jnp.zeros((num_tasks,), jnp.float32) if leak is None else jnp.asarray(
      leak, jnp.float32)
  if leak_arr.shape != (num_tasks,):
    raise ValueError(f"graddrop: leak must have shape ({num_tasks},), got {leak_arr.shape}.")
  if not bool(jnp.all((leak_arr >= 0) & (leak_arr <= 1))):
    raise ValueError(f"graddrop: leak values must lie in [0, 1], got {list(leak)}.")

  def init(params):
    del params
    return GradDropState(weights=jnp.ones((num_tasks,), jnp.float32), key=jax.random.PRNGKey(seed))

  def drop(task_grads, state, key, uniform_of, total):
    """GradDrop over every leaf; ``uniform_of(leaf key, leaf) -> U``, ``total`` sums the
    per-task kept and squared norms (over devices, when the examples are split)."""
    base.check_num_tasks(task_grads, num_tasks, "graddrop")
    draw, state_key = base.next_key(state.key, key)
    leaves, treedef = jax.tree_util.tree_flatten(task_grads)
    outs = []
    kept = norms2 = jnp.zeros((num_tasks,), jnp.float32)
    for i, g in enumerate(leaves):
      out, kept_dot, norm2 = graddrop_leaf(g, uniform_of(jax.random.fold_in(draw, i), g),
                                           leak_arr)
      outs.append(out.astype(g.dtype))
      kept = kept + kept_dot
      norms2 = norms2 + norm2
    kept, norms2 = total((kept, norms2))
    weights = jnp.where(norms2 > 0, kept / jnp.where(norms2 > 0, norms2, 1.0), 1.0)
    new_state = GradDropState(weights=weights, key=state_key)
    return jax.tree_util.tree_unflatten(treedef, outs), new_state

  def update(task_grads, state, params=None, *, task_losses=None, key=None, **extra_args):
    del params, task_losses, extra_args
    uniform_of = lambda leaf_key, g: jax.random.uniform(leaf_key, g.shape[1:], jnp.float32)
    return drop(task_grads, state, key, uniform_of, total=lambda sums: sums)

  def update_examples(task_grads, state, *, task_losses=None, key=None, axis_name):
    """Per-example gradients ``[T, b, ...]`` split over ``axis_name``: example n of the
    global batch (device i's j-th, ``n = i * b + j``) draws its ``U`` from
    ``fold_in(leaf key, n)``, so the result does not depend on the device count."""
    del task_losses
    def uniform_of(leaf_key, g):
      first = jax.lax.axis_index(axis_name) * g.shape[1]
      examples = first + jnp.arange(g.shape[1])
      draw = lambda n: jax.random.uniform(jax.random.fold_in(leaf_key, n), g.shape[2:],
                                          jnp.float32)
      return jax.vmap(draw)(examples)
    return drop(task_grads, state, key, uniform_of,
                total=lambda sums: jax.lax.psum(sums, axis_name))

  return base.Balancer(init, update, update_examples=update_examples)
