"""A run's backbone: ImageNet weights (``config.model.pretrained``) and its learning rate.

* ``config.model.pretrained``: a torchvision state dict (``.pth`` with torch,
  or ``.safetensors`` without) written into every copy of the network's
  encoder before the first step (``mtl_jax.models.pretrained``); needs an
  encoder with ImageNet weights (``resnet50_dilated``, ``segnet``) at its full
  widths and ``config.model.kwargs.input_norm="imagenet"``. A resumed run
  restores its checkpoint instead.
* ``config.optimizer.backbone_lr_scale``: the encoder's learning rate is the
  schedule's times this (``optax.multi_transform``; 1: one optimizer for all).
"""

from typing import Any, Optional

import jax

from mtl_jax import schema
from mtl_jax.models import encoders
from mtl_jax.models import pretrained as pretrained_lib

BACKBONE, REST = "backbone", "rest"


def encoder_of(model) -> Optional[tuple[str, Any]]:
  """``(name, module)`` of the network's encoder, built alone with the network's options
  (None for a network without an ``encoder`` option)."""
  while hasattr(model, "network"):  # A wrapper (self_regulation, hmsa).
    model = model.network
  name = getattr(model, "encoder", None)
  if name not in encoders.REGISTRY:
    return None
  return name, encoders.get(name, widths=model.widths, depths=model.depths, norm=model.norm,
                            input_norm=getattr(model, "input_norm", "unit"))


def check(config, model) -> None:
  """``ConfigError`` when ``config.model.pretrained`` cannot apply to ``model``."""
  if not config.model.get("pretrained"):
    return
  found = encoder_of(model)
  if found is None or found[0] not in pretrained_lib.ARCHITECTURES:
    raise schema.ConfigError(
        f"config.model.pretrained: ImageNet weights load into encoders"
        f" {', '.join(pretrained_lib.ARCHITECTURES)}; the network's is"
        f" {found[0] if found else 'not one of them'!r} (set config.model.kwargs.encoder)")
  if found[1].input_norm != "imagenet":
    raise schema.ConfigError(
        "config.model.pretrained: ImageNet weights expect ImageNet-normalised images; add"
        " --config.model.kwargs.input_norm=imagenet")


def initialise(config, model, state):
  """``state`` with the pretrained encoder weights (unchanged without ``model.pretrained``)."""
  path = config.model.get("pretrained")
  if not path:
    return state
  name, encoder = encoder_of(model)
  weights = pretrained_lib.load(path)
  params, batch_stats, _ = pretrained_lib.into(jax.device_get(state.params),
                                               jax.device_get(state.batch_stats), name, encoder,
                                               weights, path)
  return state.replace(params=params, batch_stats=batch_stats)


def labels(model):
  """``params -> {leaf: "backbone" | "rest"}`` for ``optax.multi_transform``: the leaves of
  every copy of the encoder are the backbone."""
  found = encoder_of(model)

  def label(params):
    paths = []
    if found is not None:
      shapes = jax.eval_shape(lambda: found[1].init(
          jax.random.key(0), jax.numpy.zeros((1, 64, 64, 3)), train=False))["params"]
      paths = pretrained_lib.encoder_paths(params, shapes)

    def of(path, _):
      keys = tuple(getattr(p, "key", None) for p in path)
      return BACKBONE if any(keys[:len(at)] == at for at in paths) else REST
    return jax.tree_util.tree_map_with_path(of, params)
  return label
