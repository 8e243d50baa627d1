"""The balancer interface: optax-style transformations over per-task gradients.

A balancer combines T per-task gradients into one update. Its input is a pytree
whose leaves carry a leading task axis ``[T, ...]`` (a bare ``[T, D]`` array is
a valid input); its output is the same tree without that axis. It is an
``optax.GradientTransformationExtraArgs``, so it chains with an optimizer::

    tx = optax.chain(mtl_jax.balancers.get("ew", num_tasks=3), optax.adam(1e-4))

Every balancer state is a NamedTuple with a ``weights`` field ``[T]``: the task
weights used by the last update, for logging and plots.

Three kinds, following torchjd's split of a *weighting* (a statistic -> T
weights) from the *aggregation* (``combine``: ``sum_t w_t g_t`` leaf by leaf):

* loss-level methods (equal weights and the loss weightings,
  ``loss_weighting``): the weights depend on the task losses only; they carry
  ``weigh(task_losses, state, *, key)``, so a training step can ask for the
  weights first and run a single backward pass of ``sum_t w_t L_t``;
* Gramian methods (``gramian_weighting``): the weights depend on the T x T
  Gramian of the per-task gradients (and possibly the losses); they carry
  ``weigh_gramian(gram, state, *, task_losses, key)``, so the Gramian can be
  formed wherever the gradients live (summed over devices, say) and the
  weights applied to each part;
* the others (GradDrop) work leaf by leaf in ``update``.

A training step that balances per-example gradients split over devices (the
feature level) needs no device to hold another's examples: a loss-level
method's weights come from the losses and a Gramian method's from the psum of
each device's ``T x T`` Gramian, and each device combines its own examples. A
method of the third kind says how, in ``update_examples`` (see ``Balancer``).

What task-specific parameters receive is part of the interface:
``head_weights(state)`` gives ``[T]`` weights ``h`` such that the parameters of
task t get ``h_t * grad L_t``, from the state that this step's ``update`` (or
``weigh``) returned. Loss-level methods give their loss weights (the gradient
of ``sum_t w_t L_t``). Gradient methods follow their authors' code, whose
convention each one's ``heads`` option switches (``head_convention``):
``"own"``, each task's raw gradient (``own_gradient``), or ``"weighted"``, the
gradient of the weighted loss ``sum_t w_t L_t`` that the method's code
back-propagates (MGDA's and Nash-MTL's weights, IMTL's loss scales, IMTL-RWL's
random loss weights).
"""

from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import optax

# weigh(task_losses [T], state, *, key) -> (weights [T], new_state)
WeighFn = Callable[..., tuple[jax.Array, NamedTuple]]
# weigh_gramian(gram [T, T], state, *, task_losses, key) -> (weights [T], new_state)
WeighGramianFn = Callable[..., tuple[jax.Array, NamedTuple]]
# head_weights(state) -> [T]: task t's parameters receive head_weights[t] * grad L_t.
HeadWeightsFn = Callable[[NamedTuple], jax.Array]
# update_examples(task_grads [T, b, ...], state, *, task_losses, key, axis_name)
#   -> (this device's share of the result, new_state identical on every device)
UpdateExamplesFn = Callable[..., tuple[Any, NamedTuple]]


def own_gradient(state: NamedTuple) -> jax.Array:
  """``head_weights`` of ones: each task's parameters get their own task's raw gradient."""
  return jnp.ones_like(state.weights, dtype=jnp.float32)


def loss_weights(state: NamedTuple) -> jax.Array:
  """``head_weights`` equal to the loss weights: the gradient of ``sum_t w_t L_t``."""
  return state.weights.astype(jnp.float32)


HEADS = ("own", "weighted")


def head_convention(name: str, heads: str, weighted: HeadWeightsFn) -> HeadWeightsFn:
  """The ``head_weights`` of a method's ``heads`` option.

  Args:
    name: the method, for the error message.
    heads: ``"own"`` (``own_gradient``) or ``"weighted"``.
    weighted: the method's weights of the task losses, ``state -> [T]``.

  Raises:
    ValueError: ``"<name>: heads must be one of ..."``.
  """
  if heads == "own":
    return own_gradient
  if heads == "weighted":
    return lambda state: weighted(state).astype(jnp.float32)
  raise ValueError(f"{name}: heads must be one of {HEADS}, got {heads!r}.")


class Balancer(optax.GradientTransformationExtraArgs):
  """An ``(init, update)`` pair, plus ``weigh`` (loss-level methods) or
  ``weigh_gramian`` (Gramian methods), and ``head_weights``.

  ``update(task_grads, state, params=None, *, task_losses=None, key=None)``
  returns ``(updates, new_state)``. ``weigh`` is ``None`` for methods that need
  the per-task gradients themselves, ``weigh_gramian`` for methods that need
  more than their Gramian. ``head_weights`` defaults to ``loss_weights`` for
  loss-level methods and to ``own_gradient`` for the others.

  ``update_examples(task_grads, state, *, task_losses=None, key=None,
  axis_name)``, for methods of neither kind, is ``update`` on per-example
  gradients whose example axis (axis 1 of every leaf ``[T, b, ...]``) is split
  over the devices of the mapped axis ``axis_name``: each device passes its
  own ``b`` examples and gets its own share of the result, equal to that share
  of ``update`` on all the examples (as drawn by ``update_examples``), with the
  same new state on every device. Without it a step gathers every device's
  examples for ``update``.
  """

  def __new__(cls, init, update, weigh: Optional[WeighFn] = None,
              weigh_gramian: Optional[WeighGramianFn] = None,
              head_weights: Optional[HeadWeightsFn] = None,
              update_examples: Optional[UpdateExamplesFn] = None):
    self = super().__new__(cls, init, update)
    self.weigh = weigh
    self.weigh_gramian = weigh_gramian
    self.update_examples = update_examples
    self.head_weights = head_weights or (loss_weights if weigh is not None else own_gradient)
    return self

  @property
  def needs_task_grads(self) -> bool:
    """Whether the method needs per-task gradients (else only task losses)."""
    return self.weigh is None

  @property
  def kind(self) -> str:
    """``"loss"``, ``"gramian"`` or ``"gradient"`` (works on the gradients themselves)."""
    if self.weigh is not None:
      return "loss"
    return "gramian" if self.weigh_gramian is not None else "gradient"


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


def gramian_weighting(num_tasks: int, name: str, init: Callable,
                      weigh_gramian: WeighGramianFn,
                      head_weights: Optional[HeadWeightsFn] = None) -> Balancer:
  """A Gramian ``Balancer``: ``update`` combines ``sum_t w_t g_t`` with weights of the Gramian.

  The method's file holds its weight formula; this holds the rest: the task
  axis check, the Gramian (``gramian``, a sum over leaves), and the
  combination (``combine``).

  Args:
    num_tasks: T.
    name: the method's name, for error messages.
    init: ``init(params) -> state``.
    weigh_gramian: ``weigh_gramian(gram, state, *, task_losses=None, key=None)
      -> (weights, new_state)``; ``key`` is the one passed to ``update`` (None
      if none was: methods that draw keep a key in their state, see
      ``next_key``).
    head_weights: what task-specific parameters receive (default
      ``own_gradient``).

  Returns:
    A ``Balancer`` whose ``weigh_gramian`` is ``weigh_gramian``.

  Example: the normalised sum of unit gradients as a Gramian weighting:

    >>> from typing import NamedTuple
    >>> class State(NamedTuple):
    ...   weights: jax.Array
    >>> def weigh_gramian(gram, state, *, task_losses=None, key=None):
    ...   w = 1.0 / jnp.sqrt(jnp.diagonal(gram))
    ...   return w, State(w)
    >>> b = gramian_weighting(2, "unit", lambda p: State(jnp.ones(2)), weigh_gramian)
    >>> updates, state = b.update(jnp.array([[3., 4.], [0., 2.]]), b.init(None))
    >>> [round(v, 4) for v in updates.tolist()], b.kind
    ([0.6, 1.8], 'gramian')
  """
  def update(task_grads, state, params=None, *, task_losses=None, key=None, **extra_args):
    del params, extra_args
    check_num_tasks(task_grads, num_tasks, name)
    weights, state = weigh_gramian(gramian(task_grads), state, task_losses=task_losses, key=key)
    return combine(task_grads, weights), state

  return Balancer(init, update, weigh_gramian=weigh_gramian, head_weights=head_weights)


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
