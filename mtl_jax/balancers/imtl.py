"""IMTL: IMTL-L loss scales with IMTL-G gradient weighting (Liu et al., ICLR 2021)."""

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from mtl_jax.balancers import base
from mtl_jax.balancers.imtl_g import imtl_g_weights
from mtl_jax.balancers.imtl_l import scale_step


class IMTLState(NamedTuple):
  weights: jax.Array  # [T] alpha_t e^{s_t}: the coefficients on the raw g_t
  log_scales: jax.Array  # [T] s
  opt_state: Any


def imtl(num_tasks: int, learning_rate: float = 1e-3,
         optimizer: Callable[[float], optax.GradientTransformation] = optax.adam,
         init_log_scale: float = 0.0) -> base.Balancer:
  """IMTL (L+G): IMTL-G applied to the gradients of the IMTL-L-scaled losses.

  Liu et al., "Towards Impartial Multi-task Learning", ICLR 2021. The scaled
  task gradients are ``g'_t = e^{s_t} g_t``; IMTL-G gives ``alpha`` on them
  (``imtl_g_weights`` with ``loss_scales=e^s``) and the update is
  ``sum_t alpha_t e^{s_t} g_t``. ``s`` is learned as in ``imtl_l`` (one step of
  ``optimizer(learning_rate)`` on ``sum_t e^{s_t} L_t - s_t`` per call). In the
  paper task-specific parameters receive ``e^{s_t} grad L_t``; the training
  step applies ``state.log_scales`` to them.

  Args:
    num_tasks: T.
    learning_rate: the learning rate of ``s``.
    optimizer: an optax optimizer factory taking the learning rate.
    init_log_scale: the initial ``s_t``.

  Returns:
    A ``Balancer`` that needs the per-task gradients and ``task_losses``.

  Example:
    >>> import jax.numpy as jnp
    >>> from mtl_jax import balancers
    >>> b = balancers.imtl(num_tasks=2)
    >>> jacobian = jnp.array([[-4., 1., 1.], [6., 1., 1.]])
    >>> updates, state = b.update(jacobian, b.init(None), task_losses=jnp.array([1., 2.]))
    >>> [round(v, 4) for v in updates.tolist()]  # s = 0 at the first step: IMTL-G
    [0.0767, 1.0, 1.0]
  """
  opt = optimizer(learning_rate)

  def init(params):
    del params
    s = jnp.full((num_tasks,), init_log_scale, jnp.float32)
    return IMTLState(weights=jnp.exp(s) / num_tasks, log_scales=s, opt_state=opt.init(s))

  def update(task_grads, state, params=None, *, task_losses=None, key=None, **extra_args):
    del params, key, extra_args
    base.check_num_tasks(task_grads, num_tasks, "imtl")
    losses = base.require_losses(task_losses, num_tasks, "imtl")
    scales = jnp.exp(state.log_scales)
    weights = imtl_g_weights(base.gramian(task_grads), loss_scales=scales)
    s, opt_state = scale_step(opt, state.log_scales, state.opt_state, losses)
    new_state = IMTLState(weights=weights, log_scales=s, opt_state=opt_state)
    return base.combine(task_grads, weights), new_state

  return base.Balancer(init, update)
