"""Flax linen networks, built by name.

Layout: ``blocks/`` (CBAM, xTAM, LSU, conv blocks, resizing, ...),
``encoders/`` (conv, SegNet/VGG-16, dilated ResNet-50; built by name),
``decoders/`` (U-Net, SegNet, staged, up-skip), ``networks/`` (the networks
below), ``wrappers/`` (Self-Regulation, HMSA); ``interface`` states what a
network provides (``encode``, ``decode``, ``task_channels`` and the optional
members) and the task-specific parameter convention that ``partition``
implements; ``multi_scale`` fuses predictions over image scales.

Every network takes ``task_channels`` (task -> head channels), ``axis_name``,
``encoder`` (a name in ``encoders``), ``widths``, ``depths`` and ``norm``.

| name | network | task-specific parameters |
|---|---|---|
| ``hps`` | hard parameter sharing: shared encoder, a decoder per task | ``heads_<t>`` |
| ``mtran`` | MTRAN (Ji et al. 2023): residual attention (CBAM) task networks | ``branches_<t>`` |
| ``mtan`` | MTAN (Liu et al. 2019): task attention masks over a shared SegNet | ``attention_<t>`` |
| ``cross_stitch`` | cross-stitch columns (Misra et al. 2016) | ``decoders_<t>`` |
| ``single_task`` | one independent network per task | ``networks_<t>`` (all) |
| ``densemtl`` | DenseMTL (Lopes et al. 2023): cross-task attention between decoders | ``decoders_<t>``, ``exchange_stage<i>_<t>`` |
| ``semboost`` | SemBoost (Jiao et al. 2018): lateral sharing units, semi-dense up-skips | ``decoders_<t>`` (the LSUs are shared) |

Wrappers (``WRAPPERS``, built by ``wrap``) extend any network and keep its
parameter names: ``self_regulation`` (training-time exits, ``SelfRegulation``)
and ``hmsa`` (multi-scale attention, ``HMSA``). They read the network's blocks
from its representation (``interface.stage_features``) and check their
options against the network they wrap when they are built.
"""

from mtl_jax.models import encoders
from mtl_jax.models import interface
from mtl_jax.models import multi_scale
from mtl_jax.models import partition
from mtl_jax.models.blocks import resize
from mtl_jax.models.blocks.cbam import CBAM
from mtl_jax.models.blocks.conv_block import ConvBlock
from mtl_jax.models.blocks.lsu import LSU
from mtl_jax.models.blocks.mtan_attention import AttentionMask, TaskAttention
from mtl_jax.models.blocks.residual_attention import ResidualAttention
from mtl_jax.models.blocks.task_exchange import TaskExchange
from mtl_jax.models.blocks.xtam import XTAM
from mtl_jax.models.decoders.segnet import SegNetDecoder
from mtl_jax.models.decoders.staged import StagedDecoder
from mtl_jax.models.decoders.unet import UNetDecoder
from mtl_jax.models.decoders.up_skip import UpSkipDecoder, semi_dense_sum
from mtl_jax.models.encoders.conv import ConvEncoder, ConvStage
from mtl_jax.models.encoders.resnet_dilated import Bottleneck, DilatedResNet, ResNetStage
from mtl_jax.models.encoders.segnet import SegNetEncoder
from mtl_jax.models.interface import Network
from mtl_jax.models.networks.cross_stitch import CrossStitch, CrossStitchUnit
from mtl_jax.models.networks.densemtl import DenseMTL
from mtl_jax.models.networks.hps import HPS
from mtl_jax.models.networks.mtan import MTAN
from mtl_jax.models.networks.mtran import MTRAN, MTRANBranch
from mtl_jax.models.networks.semboost import SemBoost
from mtl_jax.models.networks.single_task import SingleTask
from mtl_jax.models.wrappers.hmsa import HMSA
from mtl_jax.models.wrappers.self_regulation import SelfRegulation

# name -> Module class. The one place model names resolve.
REGISTRY = {
    "hps": HPS,
    "mtran": MTRAN,
    "mtan": MTAN,
    "cross_stitch": CrossStitch,
    "single_task": SingleTask,
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
