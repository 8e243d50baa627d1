"""The full training state: everything a checkpoint must hold to resume exactly."""

from typing import Any

import flax
import jax


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
