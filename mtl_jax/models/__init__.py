"""Flax linen networks, built by name.

Every network takes ``task_channels`` (task -> head channels), ``axis_name``,
``encoder`` (a name in ``encoders``) and ``widths``; it has
``encode(images, train)`` (the shared representation), ``decode(features,
train)`` (``{task: prediction}``) and ``__call__`` (both). Task-specific
parameters follow ``partition``'s naming convention.

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
from its representation (``stages.stage_features``).
"""

from mtl_jax.models import encoders
from mtl_jax.models import multi_scale
from mtl_jax.models import partition
from mtl_jax.models import resize
from mtl_jax.models.cbam import CBAM
from mtl_jax.models.conv_block import ConvBlock
from mtl_jax.models.conv_encoder import ConvEncoder, ConvStage
from mtl_jax.models.cross_stitch import CrossStitch, CrossStitchUnit
from mtl_jax.models.densemtl import DenseMTL
from mtl_jax.models.hmsa import HMSA
from mtl_jax.models.hps import HPS
from mtl_jax.models.lsu import LSU
from mtl_jax.models.mtan import MTAN
from mtl_jax.models.mtan_attention import AttentionMask, TaskAttention
from mtl_jax.models.mtran import MTRAN, MTRANBranch
from mtl_jax.models.residual_attention import ResidualAttention
from mtl_jax.models.resnet_dilated import Bottleneck, DilatedResNet, ResNetStage
from mtl_jax.models.segnet_decoder import SegNetDecoder
from mtl_jax.models.segnet_encoder import SegNetEncoder
from mtl_jax.models.self_regulation import SelfRegulation
from mtl_jax.models.semboost import SemBoost
from mtl_jax.models.single_task import SingleTask
from mtl_jax.models.staged_decoder import StagedDecoder
from mtl_jax.models.task_exchange import TaskExchange
from mtl_jax.models.unet_decoder import UNetDecoder
from mtl_jax.models.up_skip_decoder import UpSkipDecoder, semi_dense_sum
from mtl_jax.models.xtam import XTAM

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
