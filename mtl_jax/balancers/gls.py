"""GLS: the geometric loss strategy (Chennupati et al., CVPR-W 2019)."""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from mtl_jax.balancers import base


class GLSState(NamedTuple):
  weights: jax.Array  # [T]


def gls(num_tasks: int, eps: float = 1e-12) -> base.Balancer:
  """Geometric loss strategy: minimise ``(prod_t L_t)^{1/T}``.

  Chennupati et al., "MultiNet++: Multi-Stream Feature Aggregation and
  Geometric Loss Strategy for Multi-Task Learning", CVPR Workshops 2019 (as in
  LibMTL). The gradient of the geometric mean is ``sum_t w_t grad L_t`` with
  ``w_t = (prod_s L_s)^{1/T} / (T L_t)``, computed in log space; losses are
  clamped below at ``eps``. A loss-level method (``w`` is a constant of the
  step, so one backward pass of ``sum_t w_t L_t`` gives the same gradient).

  Args:
    num_tasks: T.
    eps: the smallest loss value used.

  Returns:
    A ``Balancer`` that needs ``task_losses``.

  Example:
    >>> import jax.numpy as jnp
    >>> from mtl_jax import balancers
    >>> b = balancers.gls(num_tasks=2)
    >>> weights, _ = b.weigh(jnp.array([1., 4.]), b.init(None))
    >>> weights.tolist()
    [1.0, 0.25]
  """
  def init(params):
    del params
    return GLSState(weights=jnp.full((num_tasks,), 1.0 / num_tasks, jnp.float32))

  def weigh(task_losses, state, *, key=None):
    del state, key
    log_losses = jnp.log(jnp.maximum(base.require_losses(task_losses, num_tasks, "gls"), eps))
    weights = jnp.exp(jnp.mean(log_losses) - log_losses) / num_tasks
    return weights, GLSState(weights=weights)

  return base.loss_weighting(num_tasks, "gls", init, weigh)
