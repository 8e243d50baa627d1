"""EW: equal weights, the linear scalarisation baseline of every MTL paper."""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from mtl_jax.balancers import base


class EWState(NamedTuple):
  weights: jax.Array  # [T]


def ew(num_tasks: int, weight: float = 1.0) -> base.Balancer:
  """Equal weights: ``update = weight * sum_t g_t``.

  The default ``weight=1`` is LibMTL's EW and the "LS" baseline of Nash-MTL and
  FAMO (the gradient of the summed losses); ``weight=1/T`` is torchjd's ``Mean``.
  A loss-level method: training runs one backward pass of ``weight * sum_t L_t``.

  Args:
    num_tasks: T, the number of tasks.
    weight: the weight every task gets.

  Returns:
    A ``Balancer``.

  Example:
    >>> import jax.numpy as jnp
    >>> from mtl_jax import balancers
    >>> b = balancers.ew(num_tasks=2)
    >>> state = b.init(jnp.zeros(3))
    >>> updates, state = b.update(jnp.array([[1., 0., 2.], [3., 1., 0.]]), state)
    >>> updates.tolist()
    [4.0, 1.0, 2.0]
  """
  weights = jnp.full((num_tasks,), weight, jnp.float32)

  def init(params):
    del params
    return EWState(weights=weights)

  def weigh(task_losses, state, *, key=None):
    del task_losses, key
    return state.weights, state

  def update(task_grads, state, params=None, *, task_losses=None, key=None,
             **extra_args):
    del params, task_losses, key, extra_args
    base.check_num_tasks(task_grads, num_tasks, "ew")
    return base.combine(task_grads, state.weights), state

  return base.Balancer(init, update, weigh)
