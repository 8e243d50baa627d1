"""FAMO: fast adaptive multitask optimisation (Liu et al., NeurIPS 2023)."""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from mtl_jax.balancers import base


class FAMOState(NamedTuple):
  weights: jax.Array  # [T] the gradient weights z_t / (c L_t) used by the last step
  logits: jax.Array  # [T] xi
  opt_state: Any  # state of the optimizer of xi
  prev_losses: jax.Array  # [T] the losses of the previous call
  has_prev: jax.Array  # [] bool, False before the first call


def famo(num_tasks: int, learning_rate: float = 0.025, weight_decay: float = 1e-3,
         min_losses: float = 0.0, eps: float = 1e-8) -> base.Balancer:
  """FAMO: decrease ``sum_t z_t log L_t`` with logits learned from the losses' progress.

  Liu et al., "FAMO: Fast Adaptive Multitask Optimization", NeurIPS 2023.
  With ``z = softmax(xi)`` and ``D_t = L_t - min_losses + eps``, the update is
  the gradient of ``sum_t z_t log D_t / c``, ``c = sum_t z_t / D_t``, i.e. the
  weights ``w_t = z_t / (c D_t)``. The logits learn from the log-loss decrease
  ``delta_t = log D_t(prev) - log D_t(now)``: their gradient is
  ``J_softmax(xi)^T delta`` and the step is Adam (``learning_rate``) with L2
  weight decay ``weight_decay`` (the paper's defaults 0.025 and 0.001), which
  moves weight towards the tasks that improved least.

  Timing convention: the paper re-evaluates the losses on the same batch after
  the optimizer step. Here no extra forward pass is made: the state carries the
  previous call's losses, and each call first updates ``xi`` with
  ``delta = log D(previous call) - log D(this call)`` (skipped on the first
  call), then returns the weights from the updated ``xi`` and this call's
  losses. The improvement is thus measured across consecutive batches.
  A loss-level method.

  Args:
    num_tasks: T.
    learning_rate: Adam's learning rate for the logits.
    weight_decay: L2 weight decay on the logits (added to their gradient).
    min_losses: the lower bound of the losses.
    eps: added to ``L_t - min_losses``.

  Returns:
    A ``Balancer`` that needs ``task_losses``.

  Example:
    >>> import jax.numpy as jnp
    >>> from mtl_jax import balancers
    >>> b = balancers.famo(num_tasks=2)
    >>> weights, state = b.weigh(jnp.array([1., 1.]), b.init(None))
    >>> weights, state = b.weigh(jnp.array([0.5, 1.]), state)  # task 0 improved
    >>> bool(state.logits[1] > state.logits[0])
    True
  """
  opt = optax.chain(optax.add_decayed_weights(weight_decay), optax.adam(learning_rate))

  def init(params):
    del params
    xi = jnp.zeros((num_tasks,), jnp.float32)
    return FAMOState(weights=jnp.full((num_tasks,), 1.0, jnp.float32), logits=xi,
                     opt_state=opt.init(xi), prev_losses=jnp.ones((num_tasks,), jnp.float32),
                     has_prev=jnp.zeros((), bool))

  def weigh(task_losses, state, *, key=None):
    del key
    losses = base.require_losses(task_losses, num_tasks, "famo")
    d_now = jnp.maximum(losses - min_losses, 0.0) + eps
    d_prev = jnp.maximum(state.prev_losses - min_losses, 0.0) + eps
    delta = jnp.log(d_prev) - jnp.log(d_now)
    _, vjp = jax.vjp(jax.nn.softmax, state.logits)
    updates, opt_state = opt.update(vjp(delta)[0], state.opt_state, state.logits)
    logits = jnp.where(state.has_prev, optax.apply_updates(state.logits, updates), state.logits)
    opt_state = jax.tree_util.tree_map(
        lambda new, old: jnp.where(state.has_prev, new, old), opt_state, state.opt_state)
    z = jax.nn.softmax(logits)
    weights = z / d_now / jnp.sum(z / d_now)
    return weights, FAMOState(weights=weights, logits=logits, opt_state=opt_state,
                              prev_losses=losses, has_prev=jnp.ones((), bool))

  return base.loss_weighting(num_tasks, "famo", init, weigh)
