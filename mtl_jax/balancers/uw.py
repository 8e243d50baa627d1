"""UW: uncertainty weighting with learned log-variances (Kendall et al., CVPR 2018)."""

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from mtl_jax.balancers import base


FORMS = {"kendall": 1.0, "libmtl": 0.5}  # form -> c in c (exp(-s) L + s)


class UWState(NamedTuple):
  weights: jax.Array  # [T] c exp(-s_t) used by the last step
  log_vars: jax.Array  # [T] s
  opt_state: Any  # state of the optimizer of s


def uw(num_tasks: int, learning_rate: float = 1e-3,
       optimizer: Callable[[float], optax.GradientTransformation] = optax.adam,
       init_log_var: float = 0.0, form: str = "kendall") -> base.Balancer:
  """Uncertainty weighting: ``loss = sum_t c (exp(-s_t) L_t + s_t)`` with learned ``s``.

  Kendall, Gal & Cipolla, "Multi-Task Learning Using Uncertainty to Weigh
  Losses for Scene Geometry and Semantics", CVPR 2018, with ``s_t = log
  sigma_t^2``. Two forms, by name:

  * ``"kendall"`` (``c = 1``, the default): ``exp(-s_t) L_t + s_t``, the form
    of the authors' public example code. It is IMTL-L's loss with ``s`` negated
    (``e^{s'} L - s'``, ``s' = -s``), so with the same optimizer, learning rate
    and initial value ``uw`` and ``imtl_l`` train identically;
  * ``"libmtl"`` (``c = 1/2``): ``exp(-s_t) L_t / 2 + s_t / 2``, LibMTL's and
    the Nash-MTL code's; it is the paper's regression form
    (``L / (2 sigma^2) + log sigma``) for every task (the paper's
    classification form is ``L / sigma^2 + log sigma``).

  Both have the optimum ``s_t = log L_t``; the gradient weights are
  ``w_t = c exp(-s_t)``. The state carries ``s`` and the state of its own
  optimizer ``optimizer(learning_rate)`` (Adam by default; the paper trains
  ``s`` with the network). Each call returns the weights from the current
  ``s`` and takes one step on it with gradient ``c (1 - exp(-s_t) L_t)``.
  A loss-level method.

  Args:
    num_tasks: T.
    learning_rate: the learning rate of ``s``.
    optimizer: an optax optimizer factory taking the learning rate.
    init_log_var: the initial ``s_t``.
    form: ``"kendall"`` or ``"libmtl"``.

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
  if form not in FORMS:
    raise ValueError(f"uw: form must be one of {tuple(FORMS)}, got {form!r}.")
  c = FORMS[form]
  opt = optimizer(learning_rate)

  def init(params):
    del params
    s = jnp.full((num_tasks,), init_log_var, jnp.float32)
    return UWState(weights=c * jnp.exp(-s), log_vars=s, opt_state=opt.init(s))

  def weigh(task_losses, state, *, key=None):
    del key
    losses = base.require_losses(task_losses, num_tasks, "uw")
    weights = c * jnp.exp(-state.log_vars)
    grads = c - weights * losses
    updates, opt_state = opt.update(grads, state.opt_state, state.log_vars)
    s = optax.apply_updates(state.log_vars, updates)
    return weights, UWState(weights=weights, log_vars=s, opt_state=opt_state)

  return base.loss_weighting(num_tasks, "uw", init, weigh)
