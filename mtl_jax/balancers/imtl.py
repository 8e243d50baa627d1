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
  loss_scales: jax.Array  # [T] e^{s_t} of the last update: task-specific parameters' weights
  log_scales: jax.Array  # [T] s, after the last update's step on it
  opt_state: Any


def imtl(num_tasks: int, learning_rate: float = 1e-3,
         optimizer: Callable[[float], optax.GradientTransformation] = optax.adam,
         init_log_scale: float = 0.0, heads: str = "weighted") -> base.Balancer:
  """IMTL (L+G): IMTL-G applied to the gradients of the IMTL-L-scaled losses.

  Liu et al., "Towards Impartial Multi-task Learning", ICLR 2021. The scaled
  task gradients are ``g'_t = e^{s_t} g_t``; IMTL-G gives ``alpha`` on them
  (``imtl_g_weights`` with ``loss_scales=e^s``) and the update is
  ``sum_t alpha_t e^{s_t} g_t``. ``s`` is learned as in ``imtl_l`` (one step of
  ``optimizer(learning_rate)`` on ``sum_t e^{s_t} L_t - s_t`` per call). As in
  the paper, task-specific parameters receive the gradient of their scaled
  loss, ``e^{s_t} grad L_t`` with this step's ``s`` (``heads="weighted"``,
  ``state.loss_scales``); ``"own"`` gives them their raw gradient.

  Args:
    num_tasks: T.
    learning_rate: the learning rate of ``s``.
    optimizer: an optax optimizer factory taking the learning rate.
    init_log_scale: the initial ``s_t``.
    heads: ``"weighted"`` or ``"own"``, what task-specific parameters receive.

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
    return IMTLState(weights=jnp.exp(s) / num_tasks, loss_scales=jnp.exp(s), log_scales=s,
                     opt_state=opt.init(s))

  def weigh_gramian(gram, state, *, task_losses=None, key=None):
    del key
    losses = base.require_losses(task_losses, num_tasks, "imtl")
    scales = jnp.exp(state.log_scales)
    weights = imtl_g_weights(gram, loss_scales=scales)
    s, opt_state = scale_step(opt, state.log_scales, state.opt_state, losses)
    return weights, IMTLState(weights=weights, loss_scales=scales, log_scales=s,
                              opt_state=opt_state)

  return base.gramian_weighting(
      num_tasks, "imtl", init, weigh_gramian,
      head_weights=base.head_convention("imtl", heads, lambda state: state.loss_scales))
