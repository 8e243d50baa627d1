"""The full training state: everything a checkpoint must hold to resume exactly."""

import functools
from typing import Any

import flax
import jax
import jax.numpy as jnp

from mtl_jax.models import partition


@flax.struct.dataclass
class TrainState:
  """Parameters, optimizer and balancer state, and the step's random key.

  Attributes:
    step: int32 scalar, the number of updates applied.
    params: the network's parameters.
    batch_stats: batch-norm running statistics (empty for other norms).
    opt_state: the optax optimizer's state.
    balancer_state: the balancer's state (its ``weights`` are the last task weights).
    rng: a raw ``uint32[2]`` PRNG key; step ``s`` draws from ``fold_in(rng, s)``,
      the same on every device.
  """
  step: jax.Array
  params: Any
  batch_stats: Any
  opt_state: Any
  balancer_state: Any
  rng: jax.Array


def create(rng: jax.Array, model, tasks, balancer, tx, image_shape) -> TrainState:
  """Initial parameters, optimizer and balancer state for ``[H, W, 3]`` images.

  The balancer is initialised on the shared parameters (possibly none).
  """
  init_rng, step_rng = jax.random.split(rng)
  dummy = jnp.zeros((1, *image_shape), jnp.float32)
  variables = jax.jit(functools.partial(model.init, train=False))(init_rng, dummy)
  params = variables["params"]
  shared, _ = partition.split(params, [task.name for task in tasks])
  return TrainState(
      step=jnp.zeros((), jnp.int32), params=params,
      batch_stats=variables.get("batch_stats", {}), opt_state=tx.init(params),
      balancer_state=balancer.init(shared), rng=step_rng)
