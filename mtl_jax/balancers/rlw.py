"""RLW: random loss weighting (Lin et al., TMLR 2022)."""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from mtl_jax.balancers import base

DISTRIBUTIONS = ("normal", "dirichlet")


class RLWState(NamedTuple):
  weights: jax.Array  # [T] the last draw
  key: jax.Array  # PRNG key, split every step when no key is passed


def rlw(num_tasks: int, distribution: str = "normal", concentration: float = 1.0,
        seed: int = 0) -> base.Balancer:
  """Random loss weighting: fresh random weights on the simplex every step.

  Lin et al., "Reasonable Effectiveness of Random Weighting: A Litmus Test for
  Multi-Task Learning", TMLR 2022 (arXiv:2111.10603, 2021). ``"normal"`` (the
  default, as LibMTL): ``w = softmax(z)``, ``z ~ N(0, I_T)``; ``"dirichlet"``:
  ``w ~ Dirichlet(concentration * 1_T)``. The weights sum to 1. Randomness: the
  ``key`` passed to ``update``/``weigh``, else the state's key (split every
  step). A loss-level method; it does not read the losses.

  Args:
    num_tasks: T.
    distribution: ``"normal"`` or ``"dirichlet"``.
    concentration: the Dirichlet concentration.
    seed: the seed of the key stored in the state.

  Returns:
    A ``Balancer``.

  Example:
    >>> import jax.numpy as jnp
    >>> from mtl_jax import balancers
    >>> b = balancers.rlw(num_tasks=3)
    >>> weights, state = b.weigh(None, b.init(None))
    >>> weights.shape, round(float(weights.sum()), 5)
    ((3,), 1.0)
  """
  if distribution not in DISTRIBUTIONS:
    raise ValueError(f"rlw: distribution must be one of {DISTRIBUTIONS}, got {distribution!r}.")

  def init(params):
    del params
    return RLWState(weights=jnp.full((num_tasks,), 1.0 / num_tasks, jnp.float32),
                    key=jax.random.PRNGKey(seed))

  def weigh(task_losses, state, *, key=None):
    del task_losses
    draw, state_key = base.next_key(state.key, key)
    if distribution == "normal":
      weights = jax.nn.softmax(jax.random.normal(draw, (num_tasks,), jnp.float32))
    else:
      weights = base.sample_dirichlet(draw, concentration, num_tasks)
    return weights, RLWState(weights=weights, key=state_key)

  return base.loss_weighting(num_tasks, "rlw", init, weigh)
