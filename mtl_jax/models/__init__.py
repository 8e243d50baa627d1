"""Flax linen networks, built by name.

Every network takes ``task_channels`` (task -> head channels) and
``axis_name``; it has ``encode(images, train)`` (the shared representation),
``decode(features, train)`` (``{task: prediction}``) and ``__call__`` (both).
Task-specific parameters follow ``partition``'s naming convention.
"""

from mtl_jax.models import partition
from mtl_jax.models.hps import HPS

# name -> Module class. The one place model names resolve.
REGISTRY = {
    "hps": HPS,
}


def get(name: str, **kwargs):
  """Builds the network registered as ``name``."""
  if name not in REGISTRY:
    raise KeyError(f"unknown model {name!r}; known: {', '.join(sorted(REGISTRY))}")
  return REGISTRY[name](**kwargs)
