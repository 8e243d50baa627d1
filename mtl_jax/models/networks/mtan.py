"""MTAN: the multi-task attention network (Liu, Johns, Davison, CVPR 2019)."""

from typing import Mapping, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from mtl_jax.models import encoders
from mtl_jax.models.blocks.conv_block import ConvBlock
from mtl_jax.models.blocks.mtan_attention import TaskAttention
from mtl_jax.models.blocks.resize import pool_to, to_input_resolution, upsample_to
from mtl_jax.models.decoders.segnet import SegNetDecoder


class MTAN(nn.Module):
  """A shared SegNet and, per task, soft attention masks over every shared stage.

  The shared network (``shared_encoder``, ``shared_decoder``: SegNet's encoder
  and decoder) computes, at every encoder stage ``j``, its first layer's output
  ``u_j`` and its output ``p_j``, and at every decoder level ``j`` its input
  ``u'_j`` and output ``p'_j``. Task ``t`` attends to each in turn (section
  3.2), encoder stages finest first::

    a_0 = g_0(u_0) * p_0
    a_j = g_j([u_j; pool(f_{j-1}(a_{j-1}))]) * p_j
    x   = f_{S-1}(a_{S-1})

  then decoder levels coarsest first::

    x    = g'_j([u'_j; f'_j(up(x))]) * p'_j

  and the head (3x3 then 1x1 conv) maps ``x`` at the finest level to the
  prediction. ``g``, ``g'`` are the task's attention masks
  (``mtan_attention.AttentionMask``: 1x1 conv-norm-ReLU, 1x1 conv-norm-sigmoid;
  in ``attention_<task>``); ``f_j`` (3x3 conv block to the next stage's width,
  ``encoder_blocks``) and ``f'_j`` (3x3 conv block to the level's width,
  ``decoder_blocks``) are shared by all tasks, as in MTAN; ``up`` is bilinear.
  SegNet's last pooling and first unpooling, which have no parameters, are
  left out (``segnet_encoder``). At MTAN's size (widths 64..512, five blocks)
  with Cityscapes' two tasks this is 41.2M parameters (Ji et al. report 41.21M).

  ``encode`` returns the shared representation: everything the shared SegNet
  computes, ``(((u_j, p_j) per encoder stage), ((u'_j, p'_j) per decoder
  level))``; ``decode`` runs the attention networks and heads. The shared
  attention blocks live in ``decode``: at ``config.balancer.level="features"``
  they get the gradient of the sum of the task losses.

  Attributes:
    task_channels: task name -> output channels of its head.
    widths: encoder channels per stage (decoder level ``j`` has ``widths[j-1]``).
    encoder: the shared encoder's name in ``mtl_jax.models.encoders``.
    depths: the encoder's layers or blocks per stage (None: its default).
    decoder_depths: conv blocks per decoder level, finest first (None: the
      encoder's layers per stage, as SegNet's decoder mirrors its encoder).
    norm: "batch" (synchronised over ``axis_name``), "group" or "none".
    axis_name: the data-parallel axis name, or None.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> model = MTAN(task_channels={"segmentation": 7, "depth": 1}, widths=(4, 8))
    >>> x = jax.ShapeDtypeStruct((2, 16, 24, 3), jnp.float32)
    >>> variables = jax.eval_shape(lambda x: model.init(jax.random.key(0), x, train=False), x)
    >>> sorted(k for k in variables["params"] if "blocks" not in k)
    ['attention_depth', 'attention_segmentation', 'shared_decoder', 'shared_encoder']
    >>> preds = jax.eval_shape(lambda v, x: model.apply(v, x, train=False), variables, x)
    >>> {k: preds[k].shape for k in sorted(preds)}
    {'depth': (2, 16, 24, 1), 'segmentation': (2, 16, 24, 7)}
  """
  task_channels: Mapping[str, int]
  widths: Sequence[int] = (64, 128, 256, 512, 512)
  encoder: str = "segnet"
  depths: Optional[Sequence[int]] = None
  decoder_depths: Optional[Sequence[int]] = None
  norm: str = "batch"
  axis_name: Optional[str] = None
  remat: bool = False  # Rematerialise the encoder's stages (encoders.get).
  # How the encoder normalises the images: "unit" or "imagenet" (for pretrained weights).
  input_norm: str = "unit"

  def setup(self):
    widths, num = tuple(self.widths), len(self.widths)
    level_widths = (widths[0],) + widths[:-1]
    block = lambda width: ConvBlock(width, norm=self.norm, axis_name=self.axis_name)
    self.shared_encoder = encoders.get(self.encoder, widths=widths, depths=self.depths,
                                       norm=self.norm, axis_name=self.axis_name, remat=self.remat,
                                       input_norm=self.input_norm)
    decoder_depths = self.decoder_depths or self.depths or encoders.REGISTRY[
        self.encoder].default_depths(num)
    if len(decoder_depths) != num:
      raise ValueError(f"MTAN: decoder_depths={tuple(decoder_depths)} needs one entry per"
                       f" stage of widths={widths}")
    self.shared_decoder = SegNetDecoder(tuple(decoder_depths), self.norm, self.axis_name)
    self.encoder_blocks = [block(widths[min(j + 1, num - 1)]) for j in range(num)]
    self.decoder_blocks = [block(w) for w in level_widths]
    self.attention = {
        task: TaskAttention(channels, widths, level_widths, self.norm, self.axis_name)
        for task, channels in self.task_channels.items()
    }

  def encode(self, images: jax.Array, train: bool):
    """``[B, H, W, 3]`` images -> ``(encoder levels, decoder levels)``, each ``((u, p), ...)``."""
    stages, x = [], images
    for j in range(len(self.widths)):
      inner, x = self.shared_encoder.stage(j, x, train)
      stages.append((inner, x))
    levels = self.shared_decoder(tuple(p for _, p in stages), train)
    return tuple(stages), levels

  def _attend(self, task: str, shared, train: bool) -> jax.Array:
    """Task ``task``'s attended decoder output at the finest level."""
    stages, levels = shared
    masks, x = self.attention[task], None
    for j, (u, p) in enumerate(stages):
      if x is not None:
        u = jnp.concatenate([u, pool_to(self.encoder_blocks[j - 1](x, train), u)], axis=-1)
      x = masks.encoder_mask(j, u, train) * p
    x = self.encoder_blocks[-1](x, train)
    for j in reversed(range(len(levels))):
      u, p = levels[j]
      x = self.decoder_blocks[j](upsample_to(x, u), train)
      x = masks.decoder_mask(j, jnp.concatenate([u, x], axis=-1), train) * p
    return x

  def decode(self, shared, train: bool) -> dict[str, jax.Array]:
    """Shared representation -> ``{task: [B, H, W, channels]}``."""
    stride = self.shared_encoder.INPUT_STRIDE
    return {task: to_input_resolution(self.attention[task].predict(
                self._attend(task, shared, train)), stride)
            for task in self.task_channels}

  def __call__(self, images: jax.Array, train: bool) -> dict[str, jax.Array]:
    return self.decode(self.encode(images, train), train)
