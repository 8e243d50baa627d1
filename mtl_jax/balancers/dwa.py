"""DWA: dynamic weight average (Liu et al., CVPR 2019)."""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from mtl_jax.balancers import base


class DWAState(NamedTuple):
  weights: jax.Array  # [T]
  history: jax.Array  # [2, T] mean losses of periods tau-2 and tau-1
  num_periods: jax.Array  # [] int32, completed periods (capped at 2)
  total: jax.Array  # [T] sum of the losses of the current period
  count: jax.Array  # [] int32, steps in the current period


def dwa(num_tasks: int, temperature: float = 2.0, steps_per_period: int = 1) -> base.Balancer:
  """Dynamic weight average: ``w = T softmax(r / temperature)``, ``r_t = L_t(tau-1) / L_t(tau-2)``.

  Liu, Johns & Davison, "End-to-End Multi-Task Learning with Attention" (MTAN),
  CVPR 2019. ``L_t(tau)`` is the mean loss of task t over period ``tau``; a
  period is ``steps_per_period`` calls (1: per step; the number of steps of an
  epoch: per epoch, as in the paper and LibMTL). The state keeps the last two
  period means and the running sum of the current one; the weights are 1 for
  every task until two periods are complete. The default temperature 2 is the
  paper's. A loss-level method.

  Args:
    num_tasks: T.
    temperature: the softmax temperature.
    steps_per_period: calls per period.

  Returns:
    A ``Balancer`` that needs ``task_losses``.

  Example:
    >>> import jax.numpy as jnp
    >>> from mtl_jax import balancers
    >>> b = balancers.dwa(num_tasks=2)
    >>> state = b.init(None)
    >>> for losses in ([1., 1.], [1., 0.5], [1., 0.5]):
    ...   weights, state = b.weigh(jnp.array(losses), state)
    >>> [round(v, 4) for v in weights.tolist()]  # T softmax([1, 0.5] / 2)
    [1.1244, 0.8756]
  """
  if steps_per_period < 1:
    raise ValueError(f"dwa: steps_per_period must be >= 1, got {steps_per_period}.")

  def init(params):
    del params
    zeros = jnp.zeros((num_tasks,), jnp.float32)
    return DWAState(weights=jnp.ones((num_tasks,), jnp.float32),
                    history=jnp.ones((2, num_tasks), jnp.float32),
                    num_periods=jnp.zeros((), jnp.int32), total=zeros,
                    count=jnp.zeros((), jnp.int32))

  def weigh(task_losses, state, *, key=None):
    del key
    losses = base.require_losses(task_losses, num_tasks, "dwa")
    older, last = state.history[0], state.history[1]
    ratio = last / jnp.where(older > 0, older, 1.0)
    weights = num_tasks * jax.nn.softmax(ratio / temperature)
    weights = jnp.where(state.num_periods >= 2, weights, 1.0)
    total, count = state.total + losses, state.count + 1
    done = count == steps_per_period
    history = jnp.where(done, jnp.stack([last, total / count]), state.history)
    new_state = DWAState(
        weights=weights, history=history,
        num_periods=jnp.minimum(state.num_periods + done.astype(jnp.int32), 2),
        total=jnp.where(done, 0.0, total), count=jnp.where(done, 0, count))
    return weights, new_state

  return base.loss_weighting(num_tasks, "dwa", init, weigh)
