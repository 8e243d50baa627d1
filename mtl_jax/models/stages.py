"""Per-stage features of a network's shared representation, for the wrappers.

``SelfRegulation`` and ``HMSA`` attach heads to a network's blocks. A network's
``encode`` gives its shared representation; for ``HPS`` (and every network
whose representation is the encoder's features per stage) that is already a
tuple of ``[B, H_i, W_i, C_i]`` maps, finest first. A network whose
representation is something else defines ``stage_features(representation)``
returning such a tuple.
"""

from typing import Any

import flax.linen as nn
import jax


def stage_features(network: nn.Module, representation: Any) -> tuple[jax.Array, ...]:
  """The per-stage feature maps ``(... [B, H_i, W_i, C_i] ...)``, finest first.

  >>> import jax.numpy as jnp
  >>> [f.shape for f in stage_features(None, (jnp.zeros((1, 4, 4, 2)), jnp.zeros((1, 2, 2, 3))))]
  [(1, 4, 4, 2), (1, 2, 2, 3)]
  """
  if hasattr(network, "stage_features"):
    representation = network.stage_features(representation)
  if (isinstance(representation, (tuple, list)) and representation
      and all(getattr(f, "ndim", None) == 4 for f in representation)):
    return tuple(representation)
  raise TypeError(
      f"{type(network).__name__}.encode gives {type(representation).__name__}, not a tuple of"
      " per-stage feature maps [B, H, W, C]; define stage_features(representation) on the"
      " network to use it with a wrapper")
