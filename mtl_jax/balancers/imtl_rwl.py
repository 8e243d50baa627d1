"""IMTL-G on randomly weighted losses: MTRAN's Algorithm 1."""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from mtl_jax.balancers import base
from mtl_jax.balancers.imtl_g import imtl_g_weights


class IMTLRWLState(NamedTuple):
  weights: jax.Array  # [T] alpha_t lambda_t: the coefficients on the raw g_t
  loss_weights: jax.Array  # [T] lambda of the last update: task-specific parameters' weights
  key: jax.Array  # PRNG key, split every step when no key is passed


def imtl_rwl(num_tasks: int, concentration: float = 1.0, seed: int = 0,
             heads: str = "weighted") -> base.Balancer:
  """IMTL-G applied to task losses carrying random Dirichlet weights.

  The MTRAN paper's Algorithm 1: each step draws
  ``lambda ~ Dirichlet(concentration * 1_T)``, scales the task losses (hence
  the gradients) by it, ``g'_t = lambda_t g_t``, and applies IMTL-G to ``g'``:
  ``u_t = g'_t / ||g'_t||``, ``D = g'_1 - g'_{2..T}``, ``U = u_1 - u_{2..T}``,
  ``alpha_{2..T} = g'_1 U^T (D U^T)^{-1}``, ``alpha_1 = 1 - sum alpha_{2..T}``
  and the update is ``sum_t alpha_t g'_t`` (computed by ``imtl_g_weights`` with
  ``loss_scales=lambda``, which avoids the ill-conditioning of the scaled
  Gramian). ``concentration = 1`` is uniform on the
  simplex. Randomness: the ``key`` passed to ``update``, else the state's key.

  IMTL-G's invariance to each task's gradient scale makes ``lambda`` a random
  step size of the shared update and nothing else (its direction is
  IMTL-G's); where the random weights act is the task-specific parameters,
  which Algorithm 1 updates with the gradient of the weighted loss
  ``sum_t lambda_t L_t`` (its steps 4 and 11): ``heads="weighted"`` gives them
  ``lambda_t grad L_t`` (``state.loss_weights``), ``"own"`` their raw gradient.

  Args:
    num_tasks: T.
    concentration: the Dirichlet concentration of every task.
    seed: the seed of the key stored in the state.
    heads: ``"weighted"`` or ``"own"``, what task-specific parameters receive.

  Returns:
    A ``Balancer``; its state's ``weights`` are ``alpha_t lambda_t``.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> from mtl_jax import balancers
    >>> b = balancers.imtl_rwl(num_tasks=2)
    >>> jacobian = jnp.array([[-4., 1., 1.], [6., 1., 1.]])
    >>> updates, state = b.update(jacobian, b.init(None), key=jax.random.key(0))
    >>> g = jacobian / jnp.linalg.norm(jacobian, axis=1, keepdims=True)
    >>> bool(jnp.allclose(g[0] @ updates, g[1] @ updates))  # equal projections
    True
  """
  def init(params):
    del params
    uniform = lambda: jnp.full((num_tasks,), 1.0 / num_tasks, jnp.float32)
    # Distinct arrays: a donated train state must not hold one buffer twice.
    return IMTLRWLState(weights=uniform(), loss_weights=uniform(), key=jax.random.PRNGKey(seed))

  def weigh_gramian(gram, state, *, task_losses=None, key=None):
    del task_losses
    draw, state_key = base.next_key(state.key, key)
    lam = base.sample_dirichlet(draw, concentration, num_tasks)
    weights = imtl_g_weights(gram, loss_scales=lam)
    return weights, IMTLRWLState(weights=weights, loss_weights=lam, key=state_key)

  return base.gramian_weighting(
      num_tasks, "imtl_rwl", init, weigh_gramian,
      head_weights=base.head_convention("imtl_rwl", heads, lambda state: state.loss_weights))
