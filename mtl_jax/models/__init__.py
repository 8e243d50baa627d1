"""Flax linen networks, built by name.

Every network takes ``task_channels`` (task -> head channels) and
``axis_name``; it has ``encode(images, train)`` (the shared representation),
``decode(features, train)`` (``{task: prediction}``) and ``__call__`` (both).
Task-specific parameters follow ``partition``'s naming convention.

Wrappers (``WRAPPERS``, built by ``wrap``) extend any network and keep its
parameter names: ``self_regulation`` (training-time exits, ``SelfRegulation``)
and ``hmsa`` (multi-scale attention, ``HMSA``). They read the network's blocks
from its representation (``stages.stage_features``).
"""

from mtl_jax.models import multi_scale
from mtl_jax.models import partition
from mtl_jax.models.densemtl import DenseMTL
from mtl_jax.models.hmsa import HMSA
from mtl_jax.models.hps import HPS
from mtl_jax.models.lsu import LSU
from mtl_jax.models.self_regulation import SelfRegulation
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


# name -> wrapper Module class (its first attribute: the wrapped network).
WRAPPERS = {
    "self_regulation": SelfRegulation,
    "hmsa": HMSA,
}


def get(name: str, **kwargs):
  """Builds the network registered as ``name``."""
  if name not in REGISTRY:
    raise KeyError(f"unknown model {name!r}; known: {', '.join(sorted(REGISTRY))}")
  return REGISTRY[name](**kwargs)


def wrap(name: str, network, **kwargs):
  """``network`` wrapped by the wrapper registered as ``name``.

  >>> wrap("hmsa", get("hps", task_channels={"segmentation": 3}), train_scale=0.25).train_scale
  0.25
  """
  if name not in WRAPPERS:
    raise KeyError(f"unknown wrapper {name!r}; known: {', '.join(sorted(WRAPPERS))}")
  return WRAPPERS[name](network, **kwargs)
