"""MTRAN: the multi-task residual attention network (Ji et al., Sensors 2023)."""

from typing import Mapping, Optional, Sequence

import flax.linen as nn
import jax

from mtl_jax.models import encoders
from mtl_jax.models.blocks.conv_block import ConvBlock
from mtl_jax.models.blocks.residual_attention import ResidualAttention
from mtl_jax.models.blocks.resize import pool_to, to_input_resolution
from mtl_jax.models.decoders.unet import UNetDecoder


class MTRANBranch(nn.Module):
  """One task's network: a residual attention module at every shared stage, then a decoder.

  For shared features ``g_0..g_{S-1}`` (finest first, ``[B, H_i, W_i, C_i]``)::

    f_i = ConvBlock_i(g_0 if i == 0 else max_pool(a_{i-1}))     [B, H_i, W_i, C_i]
    a_i = ResidualAttention(f_i, g_i) = f_i + CBAM(f_i + g_i)

  and a U-Net decoder over ``a_0..a_{S-1}`` (``unet_decoder.UNetDecoder``, its
  widths ``C_0..C_{S-2}``) gives ``[B, H, W, out_channels]`` after upsampling
  by ``input_stride``.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> shared = (jnp.zeros((1, 16, 16, 4)), jnp.zeros((1, 8, 8, 8)))
    >>> branch = MTRANBranch(out_channels=3, reduction=4, norm="none")
    >>> v = jax.eval_shape(lambda g: branch.init(jax.random.key(0), g, train=False), shared)
    >>> jax.eval_shape(lambda v, g: branch.apply(v, g, train=False), v, shared).shape
    (1, 16, 16, 3)
  """
  out_channels: int
  input_stride: int = 1
  attention: bool = True
  residual: bool = True
  reduction: int = 16
  cbam: str = "official"
  norm: str = "batch"
  axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, shared: Sequence[jax.Array], train: bool) -> jax.Array:
    attended, x = [], None
    for g in shared:
      x = g if x is None else pool_to(x, g)
      f = ConvBlock(g.shape[-1], norm=self.norm, axis_name=self.axis_name)(x, train)
      x = ResidualAttention(self.attention, self.residual, self.reduction, self.cbam, self.norm,
                            self.axis_name)(f, g, train)
      attended.append(x)
    widths = tuple(a.shape[-1] for a in attended[:-1])
    pred = UNetDecoder(self.out_channels, widths, self.norm, self.axis_name)(attended, train)
    return to_input_resolution(pred, self.input_stride)


class MTRAN(nn.Module):
  """Shared encoder, and per task a network of residual attention modules and a decoder.

  Ji et al. (Sensors 2023), section 3: the task-sharing network (the encoder,
  ``shared_encoder``) extracts global features at every stage; each task's
  network (``branches_<task>``, see ``MTRANBranch``) adds the global feature
  to its own at every stage, applies CBAM and a residual connection, and
  decodes. ``encode`` gives the shared representation (the encoder's features
  at every stage), ``decode`` the per-task predictions.

  The paper does not list its layers; the choices here, and why: the encoder
  is SegNet's (``encoder="segnet"``, as MTAN, the network MTRAN builds on); a
  task's stage is one 3x3 conv block (from the previous attended feature,
  max-pooled, to the stage's width) followed by the residual attention module;
  CBAM has its paper's defaults (r = 16, 7x7) and, by default, the authors'
  code's spatial attention (``cbam="official"``: a convolution without a bias
  and a batch norm; ``"paper"``: equation (3), a biased convolution); decoders
  are U-Nets like those
  of ``hps``. With the first four VGG-16 blocks (widths 64..512) on Cityscapes'
  two tasks this counts 15.5M parameters, 15.4M without attention (the paper:
  16.05M and 16.02M; ``benchmarks/param_counts.py``).

  Attributes:
    task_channels: task name -> output channels of its head.
    widths: encoder channels per stage.
    encoder: the shared encoder's name in ``mtl_jax.models.encoders``.
    depths: the encoder's layers or blocks per stage (None: its default).
    attention: False for the paper's "without attention" ablation (no CBAM).
    residual: False for its "remove residuals" ablation.
    reduction: CBAM's channel reduction ratio.
    cbam: CBAM's variant, ``"official"`` or ``"paper"``.
    norm: "batch" (synchronised over ``axis_name``), "group" or "none".
    axis_name: the data-parallel axis name, or None.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> model = MTRAN(task_channels={"segmentation": 7, "depth": 1}, widths=(8, 16))
    >>> x = jax.ShapeDtypeStruct((2, 16, 24, 3), jnp.float32)
    >>> variables = jax.eval_shape(lambda x: model.init(jax.random.key(0), x, train=False), x)
    >>> sorted(variables["params"])
    ['branches_depth', 'branches_segmentation', 'shared_encoder']
    >>> preds = jax.eval_shape(lambda v, x: model.apply(v, x, train=False), variables, x)
    >>> {k: preds[k].shape for k in sorted(preds)}
    {'depth': (2, 16, 24, 1), 'segmentation': (2, 16, 24, 7)}
  """
  task_channels: Mapping[str, int]
  widths: Sequence[int] = (16, 32, 64, 128)
  encoder: str = "conv"
  depths: Optional[Sequence[int]] = None
  attention: bool = True
  residual: bool = True
  reduction: int = 16
  cbam: str = "official"
  norm: str = "batch"
  axis_name: Optional[str] = None
  remat: bool = False  # Rematerialise the encoder's stages (encoders.get).
  # How the encoder normalises the images: "unit" or "imagenet" (for pretrained weights).
  input_norm: str = "unit"

  def setup(self):
    self.shared_encoder = encoders.get(self.encoder, widths=self.widths, depths=self.depths,
                                       norm=self.norm, axis_name=self.axis_name, remat=self.remat,
                                       input_norm=self.input_norm)
    self.branches = {
        task: MTRANBranch(channels, self.shared_encoder.INPUT_STRIDE, self.attention,
                          self.residual, self.reduction, self.cbam, self.norm, self.axis_name)
        for task, channels in self.task_channels.items()
    }

  def encode(self, images: jax.Array, train: bool) -> tuple[jax.Array, ...]:
    """``[B, H, W, 3]`` images -> the shared representation (the encoder's features)."""
    return self.shared_encoder(images, train)

  def decode(self, features, train: bool) -> dict[str, jax.Array]:
    """Shared representation -> ``{task: [B, H, W, channels]}``."""
    return {task: branch(features, train) for task, branch in self.branches.items()}

  def __call__(self, images: jax.Array, train: bool) -> dict[str, jax.Array]:
    return self.decode(self.encode(images, train), train)
