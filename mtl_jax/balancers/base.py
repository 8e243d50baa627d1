"""The balancer interface: optax-style transformations over per-task gradients.

A balancer combines T per-task gradients into one update. Its input is a pytree
whose leaves carry a leading task axis ``[T, ...]`` (a bare ``[T, D]`` array is
a valid input); its output is the same tree without that axis. It is an
``optax.GradientTransformationExtraArgs``, so it chains with an optimizer::

    tx = optax.chain(mtl_jax.balancers.get("ew", num_tasks=3), optax.adam(1e-4))

Every balancer state is a NamedTuple with a ``weights`` field ``[T]``: the task
weights used by the last update, for logging and plots.

Loss-level methods (equal weights and the loss weightings) combine gradients
linearly with weights that depend on the task losses only. They also carry a
``weigh`` function, so a training step can ask for the weights first and run a
single backward pass of ``sum_t w_t L_t`` instead of T of them.
"""

from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import optax

# weigh(task_losses [T], state, *, key) -> (weights [T], new_state)
WeighFn = Callable[..., tuple[jax.Array, NamedTuple]]


class Balancer(optax.GradientTransformationExtraArgs):
  """An ``(init, update)`` pair, plus ``weigh`` for loss-level methods.

  ``update(task_grads, state, params=None, *, task_losses=None, key=None)``
  returns ``(updates, new_state)``. ``weigh`` is ``None`` for methods that need
  the per-task gradients themselves.
  """

  def __new__(cls, init, update, weigh: Optional[WeighFn] = None):
    self = super().__new__(cls, init, update)
    self.weigh = weigh
    return self

  @property
  def needs_task_grads(self) -> bool:
    """Whether the method needs per-task gradients (else only task losses)."""
    return self.weigh is None


def num_tasks_of(task_grads: Any) -> int:
  """T, the size of the leading task axis shared by every leaf."""
  leaves = jax.tree_util.tree_leaves(task_grads)
  if not leaves:
    raise ValueError("task_grads has no leaves.")
  sizes = {leaf.shape[0] if leaf.ndim else None for leaf in leaves}
  if len(sizes) != 1 or None in sizes:
    raise ValueError(
        "Every leaf of task_grads must carry the same leading task axis [T, ...];"
        f" got leading sizes {sorted(map(str, sizes))}.")
  return sizes.pop()


def check_num_tasks(task_grads: Any, num_tasks: int, name: str) -> None:
  """Raises a clear error when the task axis does not match the balancer."""
  found = num_tasks_of(task_grads)
  if found != num_tasks:
    raise ValueError(
        f"{name} was built for num_tasks={num_tasks} but task_grads has a"
        f" leading task axis of size {found}.")


def gramian(task_grads: Any) -> jax.Array:
  """The T x T Gramian ``G[s, t] = <g_s, g_t>``, summed leaf by leaf.

  No flattened copy of all parameters is made: each leaf contributes
  ``g.reshape(T, -1) @ g.reshape(T, -1).T`` and the results are added. Computed
  in float32 at the highest matmul precision (TPUs default to bfloat16).
  """
  def leaf_gram(g):
    g = g.reshape(g.shape[0], -1).astype(jnp.float32)
    return jnp.matmul(g, g.T, precision=jax.lax.Precision.HIGHEST)
  grams = [leaf_gram(g) for g in jax.tree_util.tree_leaves(task_grads)]
  gram = sum(grams[1:], grams[0])
  # Linear algebra on the Gramian (eigh, pinv) wants a column-major operand, and
  # XLA would propagate that layout into the big matmuls above, which then leave
  # the fast matmul path on CPU (2-3x slower at the feature level). The flat
  # round trip pins the row-major layout; it costs a copy of T x T numbers.
  return jax.lax.optimization_barrier(gram.reshape(-1)).reshape(gram.shape)


def combine(task_grads: Any, weights: jax.Array) -> Any:
  """``sum_t w_t g_t`` leaf by leaf: the tree of ``task_grads`` without the task axis."""
  def leaf_combine(g):
    w = weights.astype(jnp.promote_types(weights.dtype, g.dtype))
    return jnp.tensordot(w, g, axes=1, precision=jax.lax.Precision.HIGHEST).astype(g.dtype)
  return jax.tree_util.tree_map(leaf_combine, task_grads)


def next_key(state_key: jax.Array, key: Optional[jax.Array]) -> tuple[jax.Array, jax.Array]:
  """``(key to draw from now, key to store in the new state)``.

  A ``key`` passed to ``update`` is used as is and the stored key is kept;
  otherwise the stored key is split, so every step draws fresh numbers.
  """
  if key is not None:
    return key, state_key
  new_state_key, draw = jax.random.split(state_key)
  return draw, new_state_key


def require_losses(task_losses: Any, num_tasks: int, name: str) -> jax.Array:
  """The task losses as a float32 ``[T]`` constant; a clear error when missing."""
  if task_losses is None:
    raise ValueError(f"{name} needs task_losses=[T] losses in update/weigh.")
  losses = jax.lax.stop_gradient(jnp.asarray(task_losses, jnp.float32))
  if losses.shape != (num_tasks,):
    raise ValueError(
        f"{name} was built for num_tasks={num_tasks} but task_losses has shape"
        f" {losses.shape}.")
  return losses


def loss_weighting(num_tasks: int, name: str, init: Callable, weigh: WeighFn) -> Balancer:
  """A loss-level ``Balancer``: ``update`` combines ``sum_t w_t g_t`` with ``weigh``'s weights.

  Args:
    num_tasks: T.
    name: the method's name, for error messages.
    init: ``init(params) -> state``.
    weigh: ``weigh(task_losses, state, *, key=None) -> (weights, new_state)``.

  Returns:
    A ``Balancer`` whose ``weigh`` is ``weigh``.
  """
  def update(task_grads, state, params=None, *, task_losses=None, key=None, **extra_args):
    del params, extra_args
    check_num_tasks(task_grads, num_tasks, name)
    weights, state = weigh(task_losses, state, key=key)
    return combine(task_grads, weights), state

  return Balancer(init, update, weigh)


def sample_dirichlet(key: jax.Array, concentration: float, num_tasks: int) -> jax.Array:
  """``Dirichlet(concentration * 1_T)`` as float32 ``[T]``.

  For ``concentration == 1`` (uniform on the simplex) this is normalised
  standard exponentials, exact and much cheaper to compile than the gamma
  sampler that ``jax.random.dirichlet`` uses.
  """
  if concentration == 1.0:
    e = jax.random.exponential(key, (num_tasks,), jnp.float32)
    return e / jnp.sum(e)
  return jax.random.dirichlet(key, jnp.full((num_tasks,), concentration, jnp.float32))
