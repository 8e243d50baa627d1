"""SemBoost: depth and segmentation decoders joined by lateral sharing units."""

from typing import Mapping, Optional, Sequence

import flax.linen as nn
import jax

from mtl_jax.models import encoders
from mtl_jax.models.blocks.lsu import LSU
from mtl_jax.models.decoders.up_skip import UpSkipDecoder
from mtl_jax.models.blocks.resize import to_input_resolution

_PAIR = ("depth", "segmentation")


class SemBoost(nn.Module):
  """The synergy network of SemBoost (Jiao, Cao, Song, Lau, "Look Deeper into Depth:
  Monocular Depth Estimation with Semantic Booster and Attention-Driven Loss", ECCV 2018).

  A shared encoder; a depth and a segmentation ``UpSkipDecoder`` (up-convolutions
  from the encoder's coarsest feature to the finest stage's size, semi-dense
  up-skip connections: the output adds the resized outputs of every
  up-convolution), run in lockstep; between each two successive
  up-convolutions an ``LSU`` mixes them:

      D_{j+1} <- D_j + (phi_D D_j + phi_S S_j),   S_{j+1} <- S_j + (gamma_D D_j + gamma_S S_j)

  (``num_up - 1`` units for ``num_up = len(widths) - 1`` up-convolutions; the
  semi-dense sum adds the up-convolutions' own outputs, before the LSU). Any
  other configured task (normals) gets a plain decoder: the same
  ``UpSkipDecoder`` without lateral units (the paper has no third task). The
  attention-driven loss of the paper is a loss, not part of the network.

  Parameters (``mtl_jax.models.partition``): ``shared_encoder`` and every
  ``lsu_<j>`` are shared; task t owns ``decoders_<t>``. The LSU weights are
  shared because they couple the two tasks both ways: ``phi`` shapes the depth
  features, which the next unit passes to segmentation (and ``gamma`` the
  reverse), so both losses depend on each unit and the balancers see both
  per-task gradients. Likewise each decoder's up-convolutions before the last
  unit reach the other task's prediction; the training step gives
  task-specific parameters the (unweighted for gradient methods) sum of the
  task losses' gradients, so they receive that share too. With the LSUs at
  their initial zero the two decoders are independent.

  Attributes:
    task_channels: task name -> output channels; must include depth and segmentation.
    widths: encoder channels per stage, finest first.
    decoder_width: channels of every up-convolution (one width: the LSU and the
      semi-dense sum add features across tasks and stages).
    lateral: use the lateral sharing units (ablation switch).
    up_skip: use the semi-dense up-skip connections (ablation switch).
    encoder: the shared encoder's name in ``mtl_jax.models.encoders``.
    depths: the encoder's layers or blocks per stage (None: its default).
    norm: "batch" (synchronised over ``axis_name``), "group" or "none".
    axis_name: the data-parallel axis name, or None.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> model = SemBoost(task_channels={"segmentation": 7, "depth": 1, "normals": 3},
    ...                  widths=(4, 8, 8), decoder_width=4)
    >>> x = jnp.zeros((2, 16, 24, 3))
    >>> preds, variables = jax.eval_shape(
    ...     lambda: model.init_with_output(jax.random.key(0), x, train=False))
    >>> {k: preds[k].shape for k in sorted(preds)}
    {'depth': (2, 16, 24, 1), 'normals': (2, 16, 24, 3), 'segmentation': (2, 16, 24, 7)}
    >>> sorted(variables["params"])[-3:]
    ['decoders_segmentation', 'lsu_0', 'shared_encoder']
  """
  # The task decoders exchange features: the training step back-propagates
  # them once per task from one forward pass (``train._per_task_backward``).
  COUPLED_DECODERS = True

  task_channels: Mapping[str, int]
  widths: Sequence[int] = (16, 32, 64, 128)
  decoder_width: int = 32
  lateral: bool = True
  up_skip: bool = True
  norm: str = "batch"
  axis_name: Optional[str] = None
  encoder: str = "conv"
  depths: Optional[Sequence[int]] = None
  remat: bool = False  # Rematerialise the encoder's stages (encoders.get).
  # How the encoder normalises the images: "unit" or "imagenet" (for pretrained weights).
  input_norm: str = "unit"

  def setup(self):
    missing = [t for t in _PAIR if t not in self.task_channels]
    if missing:
      raise ValueError(f"SemBoost needs the tasks depth and segmentation; task_channels"
                       f" lacks {', '.join(missing)} (config.tasks.names)")
    num_up = len(self.widths) - 1
    self.shared_encoder = encoders.get(self.encoder, widths=self.widths, depths=self.depths,
                                       norm=self.norm, axis_name=self.axis_name, remat=self.remat,
                                       input_norm=self.input_norm)
    self.decoders = {t: UpSkipDecoder(c, self.decoder_width, num_up, self.up_skip, self.norm,
                                      self.axis_name)
                     for t, c in self.task_channels.items()}
    self.lsu = [LSU() for _ in range(num_up - 1)] if self.lateral else []

  def encode(self, images: jax.Array, train: bool):
    """``[B, H, W, 3]`` images -> the shared representation (features per scale).

    The decoders read the coarsest feature's values and the finer stages' sizes.
    """
    return self.shared_encoder(images, train)

  def decode(self, features, train: bool) -> dict[str, jax.Array]:
    """Shared representation -> ``{task: [B, H, W, channels]}``."""
    others = [t for t in self.task_channels if t not in _PAIR]
    preds = {t: self.decoders[t](features, train) for t in others}
    f_in = features[-1]
    x, ups = {t: f_in for t in _PAIR}, {t: [] for t in _PAIR}
    for j in range(len(features) - 1):
      for t in _PAIR:
        x[t] = self.decoders[t].up(j, x[t], features[-2 - j], train)
        ups[t].append(x[t])
      if j < len(self.lsu):
        x["depth"], x["segmentation"] = self.lsu[j](x["depth"], x["segmentation"])
    preds.update({t: self.decoders[t].output(f_in, ups[t], features[0]) for t in _PAIR})
    stride = self.shared_encoder.INPUT_STRIDE
    return {t: to_input_resolution(preds[t], stride) for t in self.task_channels}

  def __call__(self, images: jax.Array, train: bool) -> dict[str, jax.Array]:
    return self.decode(self.encode(images, train), train)
