"""The network interface: what the training step, the evaluation and the wrappers rely on.

Every network of ``mtl_jax.models`` (and any network a user brings) is a Flax
linen module with:

* ``task_channels``: ``{task: head channels}``, the tasks it predicts;
* ``encode(images, train)``: ``[B, H, W, 3]`` float images in [0, 1] -> the
  shared representation, any pytree of arrays (what
  ``config.balancer.level="features"`` balances);
* ``decode(representation, train)``: -> ``{task: [B, H, W, channels]}``, the
  heads' raw outputs (logits, depth, normals) at the input resolution;
* ``__call__(images, train)``: ``decode(encode(images, train), train)``.

Optional members, read with ``getattr`` and a default:

* ``COUPLED_DECODERS`` (default False): True when the task decoders exchange
  features (DenseMTL, SemBoost), so every task's gradient needs every
  decoder; the step then decodes once and pulls back one-hot cotangents
  instead of decoding a copy of the representation per task
  (``mtl_jax.task_grads``);
* ``stage_features(representation)``: the per-stage feature maps, for networks
  whose representation is not already a tuple of them (the wrappers'
  ``stage_features`` below);
* ``attention_fusion(images, scales)``: multi-scale fusion by learnt attention
  (the HMSA wrapper; ``config.eval.fusions=("attention",)``).

Which parameters are task-specific (``mtl_jax.models.partition``): a top-level
parameter collection whose name is ``<task>`` or ends in ``_<task>`` belongs to
that task (``heads_depth``: how Flax names ``self.heads = {"depth": ...}`` set
in ``setup``); every other top-level collection is shared and balanced. A task
parameter must only influence its own task's prediction: the step gives it its
task's loss alone (weighted as the balancer states, ``Balancer.head_weights``).

``check`` verifies the interface when a network is built from a config.
"""

import inspect
from typing import Any, Mapping, Protocol, runtime_checkable

import flax.linen as nn
import jax


@runtime_checkable
class Network(Protocol):
  """A multi-task network: a shared ``encode``, a per-task ``decode`` (see the module doc)."""

  task_channels: Mapping[str, int]

  def encode(self, images: jax.Array, train: bool) -> Any:
    """``[B, H, W, 3]`` images in [0, 1] -> the shared representation."""

  def decode(self, representation: Any, train: bool) -> dict[str, jax.Array]:
    """The shared representation -> ``{task: [B, H, W, channels]}``."""

  def __call__(self, images: jax.Array, train: bool) -> dict[str, jax.Array]:
    """``decode(encode(images, train), train)``."""


def check(network: Any) -> None:
  """Raises ``TypeError`` naming what ``network`` lacks of the ``Network`` interface.

  >>> from mtl_jax.models.networks.hps import HPS
  >>> check(HPS(task_channels={"depth": 1}))
  >>> check(nn.Dense(3))
  Traceback (most recent call last):
  ...
  TypeError: Dense is not an mtl_jax network: it lacks task_channels, encode, decode (see mtl_jax.models.interface)
  """
  missing = [name for name in ("task_channels", "encode", "decode")
             if not hasattr(network, name)]
  if missing or not isinstance(network, Network):
    raise TypeError(f"{type(network).__name__} is not an mtl_jax network: it lacks"
                    f" {', '.join(missing or ['__call__'])} (see mtl_jax.models.interface)")
  for method in ("encode", "decode"):
    params = list(inspect.signature(getattr(type(network), method)).parameters)
    if len(params) < 3 or params[2] != "train":
      raise TypeError(f"{type(network).__name__}.{method} must take (inputs, train); it takes"
                      f" ({', '.join(params[1:])})")


def coupled_decoders(network: Any) -> bool:
  """Whether the network's task decoders exchange features (``COUPLED_DECODERS``)."""
  return bool(getattr(network, "COUPLED_DECODERS", False))


def stage_features(network: nn.Module, representation: Any) -> tuple[jax.Array, ...]:
  """The per-stage feature maps ``(... [B, H_i, W_i, C_i] ...)``, finest first.

  The wrappers (Self-Regulation's exits, HMSA's attention head) read a
  network's blocks from its representation: a tuple of such maps as it is
  (``HPS`` and every network whose representation is its encoder's features),
  or what the network's ``stage_features(representation)`` returns.

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
