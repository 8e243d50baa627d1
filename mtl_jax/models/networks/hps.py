"""Hard parameter sharing: one shared encoder, one decoder per task."""

from typing import Mapping, Optional, Sequence

import flax.linen as nn
import jax

from mtl_jax.models import encoders
from mtl_jax.models.blocks.resize import to_input_resolution
from mtl_jax.models.decoders.unet import UNetDecoder


class HPS(nn.Module):
  """The hard-parameter-sharing network (Caruana 1997; the field's baseline).

  ``encode`` gives the shared representation (the encoder's features at every
  scale); ``decode`` maps it to one prediction per task; ``__call__`` is both.
  Task ``t``'s parameters live under ``heads_<t>``; everything else is shared
  (see ``mtl_jax.models.partition``).

  Attributes:
    task_channels: task name -> output channels of its head.
    widths: encoder channels per stage; decoders use the finer stages' widths.
    encoder: the shared encoder's name in ``mtl_jax.models.encoders``.
    depths: the encoder's layers or blocks per stage (None: its default).
    norm: "batch" (synchronised over ``axis_name``), "group" or "none".
    axis_name: the data-parallel axis name, or None.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> model = HPS(task_channels={"segmentation": 7, "depth": 1}, widths=(8, 16))
    >>> x = jax.ShapeDtypeStruct((2, 32, 32, 3), jnp.float32)
    >>> variables = jax.eval_shape(lambda x: model.init(jax.random.key(0), x, train=False), x)
    >>> preds = jax.eval_shape(lambda v, x: model.apply(v, x, train=False), variables, x)
    >>> {k: preds[k].shape for k in sorted(preds)}
    {'depth': (2, 32, 32, 1), 'segmentation': (2, 32, 32, 7)}
  """
  task_channels: Mapping[str, int]
  widths: Sequence[int] = (16, 32, 64, 128)
  norm: str = "batch"
  axis_name: Optional[str] = None
  encoder: str = "conv"
  depths: Optional[Sequence[int]] = None
  remat: bool = False  # Rematerialise the encoder's stages (encoders.get).
  # How the encoder normalises the images: "unit" or "imagenet" (for pretrained weights).
  input_norm: str = "unit"

  def setup(self):
    self.shared_encoder = encoders.get(self.encoder, widths=self.widths, depths=self.depths,
                                       norm=self.norm, axis_name=self.axis_name, remat=self.remat,
                                       input_norm=self.input_norm)
    self.heads = {
        task: UNetDecoder(channels, tuple(self.widths[:-1]), self.norm, self.axis_name)
        for task, channels in self.task_channels.items()
    }

  def encode(self, images: jax.Array, train: bool):
    """``[B, H, W, 3]`` images -> the shared representation (features per scale)."""
    return self.shared_encoder(images, train)

  def decode(self, features, train: bool) -> dict[str, jax.Array]:
    """Shared representation -> ``{task: [B, H, W, channels]}``."""
    stride = self.shared_encoder.INPUT_STRIDE
    return {task: to_input_resolution(head(features, train), stride)
            for task, head in self.heads.items()}

  def __call__(self, images: jax.Array, train: bool) -> dict[str, jax.Array]:
    return self.decode(self.encode(images, train), train)
