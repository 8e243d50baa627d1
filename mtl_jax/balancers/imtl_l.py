"""IMTL-L: learned loss scales (Liu et al., ICLR 2021)."""

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from mtl_jax.balancers import base


class IMTLLState(NamedTuple):
  weights: jax.Array  # [T] exp(s_t) used by the last step
  log_scales: jax.Array  # [T] s
  opt_state: Any  # state of the optimizer of s


def scale_step(opt: optax.GradientTransformation, log_scales: jax.Array,
               opt_state: Any, losses: jax.Array) -> tuple[jax.Array, Any]:
  """One optimizer step on ``s`` for ``sum_t e^{s_t} L_t - s_t``: gradient ``e^s L - 1``."""
  grads = jnp.exp(log_scales) * losses - 1.0
  updates, opt_state = opt.update(grads, opt_state, log_scales)
  return optax.apply_updates(log_scales, updates), opt_state


def imtl_l(num_tasks: int, learning_rate: float = 1e-3,
           optimizer: Callable[[float], optax.GradientTransformation] = optax.adam,
           init_log_scale: float = 0.0) -> base.Balancer:
  """IMTL-L: each loss is scaled by a learned ``e^{s_t}``; ``s`` learns ``e^{s_t} L_t - s_t``.

  Liu et al., "Towards Impartial Multi-task Learning", ICLR 2021. The network
  minimises ``sum_t e^{s_t} L_t`` (so ``w_t = e^{s_t}``) and ``s`` minimises
  ``sum_t e^{s_t} L_t - s_t``, whose optimum ``s_t = -log L_t`` makes every
  scaled loss equal to 1. The state carries ``s`` and the state of its own
  optimizer, ``optimizer(learning_rate)`` (Adam by default; the paper trains
  ``s`` with the network's optimizer). Each call uses the current ``s`` and
  then takes one step on it. A loss-level method.

  Args:
    num_tasks: T.
    learning_rate: the learning rate of ``s``.
    optimizer: an optax optimizer factory taking the learning rate.
    init_log_scale: the initial ``s_t``.

  Returns:
    A ``Balancer`` that needs ``task_losses``.

  Example:
    >>> import jax.numpy as jnp
    >>> import optax
    >>> from mtl_jax import balancers
    >>> b = balancers.imtl_l(num_tasks=2, learning_rate=0.1, optimizer=optax.sgd)
    >>> state = b.init(None)
    >>> weights, state = b.weigh(jnp.array([2., 0.5]), state)
    >>> weights.tolist(), [round(v, 2) for v in state.log_scales.tolist()]
    ([1.0, 1.0], [-0.1, 0.05])
  """
  opt = optimizer(learning_rate)

  def init(params):
    del params
    s = jnp.full((num_tasks,), init_log_scale, jnp.float32)
    return IMTLLState(weights=jnp.exp(s), log_scales=s, opt_state=opt.init(s))

  def weigh(task_losses, state, *, key=None):
    del key
    losses = base.require_losses(task_losses, num_tasks, "imtl_l")
    weights = jnp.exp(state.log_scales)
    s, opt_state = scale_step(opt, state.log_scales, state.opt_state, losses)
    return weights, IMTLLState(weights=weights, log_scales=s, opt_state=opt_state)

  return base.loss_weighting(num_tasks, "imtl_l", init, weigh)
