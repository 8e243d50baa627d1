"""Flax linen networks, built by name.

Every network takes ``task_channels`` (task -> head channels) and
``axis_name``; it has ``encode(images, train)`` (the shared representation),
``decode(features, train)`` (``{task: prediction}``) and ``__call__`` (both).
Task-specific parameters follow ``partition``'s naming convention.
"""

from mtl_jax.models import partition
from mtl_jax.models.densemtl import DenseMTL
from mtl_jax.models.hps import HPS
from mtl_jax.models.lsu import LSU
from mtl_jax.models.semboost import SemBoost
from mtl_jax.models.staged_decoder import StagedDecoder
from mtl_jax.models.task_exchange import TaskExchange
from mtl_jax.models.up_skip_decoder import UpSkipDecoder, semi_dense_sum
from mtl_jax.models.xtam import XTAM

# name -> Module class. The one place model names resolve.
REGISTRY = {
    "hps": HPS,
    "densemtl": DenseMTL,
    "semboost": SemBoost,
}


def get(name: str, **kwargs):
  """Builds the network registered as ``name``."""
  if name not in REGISTRY:
    raise KeyError(f"unknown model {name!r}; known: {', '.join(sorted(REGISTRY))}")
  return REGISTRY[name](**kwargs)
