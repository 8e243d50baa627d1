"""UW: uncertainty weighting with learned log-variances (Kendall et al., CVPR 2018)."""

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from mtl_jax.balancers import base


class UWState(NamedTuple):
  weights: jax.Array  # [T] exp(-s_t) used by the last step
  log_vars: jax.Array  # [T] s
  opt_state: Any  # state of the optimizer of s


def uw(num_tasks: int, learning_rate: float = 1e-3,
       optimizer: Callable[[float], optax.GradientTransformation] = optax.adam,
       init_log_var: float = 0.0) -> base.Balancer:
  """Uncertainty weighting: ``loss = sum_t exp(-s_t) L_t + s_t`` with learned ``s``.

  Kendall, Gal & Cipolla, "Multi-Task Learning Using Uncertainty to Weigh
  Losses for Scene Geometry and Semantics", CVPR 2018, with ``s_t = log
  sigma_t^2`` and the form used by LibMTL and most re-implementations (the
  paper's regression form is ``1/2`` of it, which changes the scale of the
  weights, not the optimum ``s_t = log L_t``). The gradient weights are
  ``w_t = exp(-s_t)``. The state carries ``s`` and the state of its own
  optimizer ``optimizer(learning_rate)`` (Adam by default; the paper trains
  ``s`` with the network). Each call returns the weights from the current
  ``s`` and takes one step on it with gradient ``1 - exp(-s_t) L_t``.
  A loss-level method.

  Args:
    num_tasks: T.
    learning_rate: the learning rate of ``s``.
    optimizer: an optax optimizer factory taking the learning rate.
    init_log_var: the initial ``s_t``.

  Returns:
    A ``Balancer`` that needs ``task_losses``.

  Example:
    >>> import jax.numpy as jnp
    >>> import optax
    >>> from mtl_jax import balancers
    >>> b = balancers.uw(num_tasks=2, learning_rate=0.1, optimizer=optax.sgd)
    >>> weights, state = b.weigh(jnp.array([3., 0.5]), b.init(None))
    >>> weights.tolist(), [round(v, 2) for v in state.log_vars.tolist()]
    ([1.0, 1.0], [0.2, -0.05])
  """
  opt = optimizer(learning_rate)

  def init(params):
    del params
    s = jnp.full((num_tasks,), init_log_var, jnp.float32)
    return UWState(weights=jnp.exp(-s), log_vars=s, opt_state=opt.init(s))

  def weigh(task_losses, state, *, key=None):
    del key
    losses = base.require_losses(task_losses, num_tasks, "uw")
    weights = jnp.exp(-state.log_vars)
    grads = 1.0 - weights * losses
    updates, opt_state = opt.update(grads, state.opt_state, state.log_vars)
    s = optax.apply_updates(state.log_vars, updates)
    return weights, UWState(weights=weights, log_vars=s, opt_state=opt_state)

  return base.loss_weighting(num_tasks, "uw", init, weigh)
