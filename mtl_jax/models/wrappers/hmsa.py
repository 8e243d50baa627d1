"""Hierarchical multi-scale attention as a wrapper around any network (Tao et al., 2020).

Tao, Sapra, Catanzaro, "Hierarchical Multi-Scale Attention for Semantic
Segmentation", 2020. Beside a task's head, an attention head predicts per pixel
how much to trust this scale's prediction against the next larger scale's.
Training runs the network on the image at ``train_scale`` and at 1 and fuses
the pair (``multi_scale.fuse_pair``); inference fuses any set of scales
pairwise (``multi_scale.attention_chain``), scales unseen in training included.
"""

from typing import Optional, Sequence

import flax.linen as nn
import jax

from mtl_jax.models import multi_scale
from mtl_jax.models.blocks.conv_block import ConvBlock
from mtl_jax.models.interface import stage_features
from mtl_jax.models.wrappers import wrapped


class AttentionHead(nn.Module):
  """``conv3x3-norm-ReLU x2``, a 1x1 conv to one channel, a sigmoid: ``[B, h, w, 1]`` in (0, 1)."""
  width: int = 16
  norm: str = "batch"
  axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    x = ConvBlock(self.width, norm=self.norm, axis_name=self.axis_name)(x, train)
    x = ConvBlock(self.width, norm=self.norm, axis_name=self.axis_name)(x, train)
    return nn.sigmoid(nn.Conv(1, (1, 1))(x))


class HMSA(wrapped.Wrapped, nn.Module):
  """A network whose ``tasks`` are fused over scales by learnt attention.

  The wrapped network's parameters keep their names (``nn.share_scope``);
  task t's attention head lives under ``hmsa_attention_<t>``, a parameter of
  task t. The head reads the block ``attention_stage`` of the representation
  (default the coarsest) and its map is resized to the prediction's size.
  NVIDIA's code feeds its attention head the decoder's features (its OCR
  module's), which the network interface here does not expose (``decode``
  returns predictions only); a block of the shared representation is what
  every network provides.

  Resizing (``resize``): ``"bilinear"`` (default) is NVIDIA's plain bilinear
  sampling (PyTorch's ``F.interpolate``, also when shrinking the image to a
  lower scale); ``"antialiased"`` low-pass filters when shrinking (fusions
  over scales above 1 move by 7-18% between the two).

  * ``train=True``: ``encode`` gives the representations of the image at
    ``train_scale`` and at 1; ``decode`` gives, for the fused tasks,
    ``up(a ⊙ p_low) + (1 - up(a)) ⊙ p_1`` and for the others ``p_1``.
  * ``train=False``: the plain network at scale 1 (inference cost unchanged);
    ``attention_fusion(images, scales)`` fuses any scales.

  Attributes:
    network: any network of ``mtl_jax.models``.
    tasks: the tasks fused by attention (segmentation; depth optionally).
    train_scale: the lower scale of the training pair (< 1).
    attention_width: channels of the attention heads' convolutions.
    attention_stage: index of the block the attention heads read.
    resize: ``"bilinear"`` or ``"antialiased"``, how images, predictions and
      attention maps change scale.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> from mtl_jax.models.networks.hps import HPS
    >>> model = HMSA(HPS({"segmentation": 3, "depth": 1}, widths=(4, 8)), attention_width=4)
    >>> x = jnp.zeros((2, 8, 8, 3))
    >>> variables = jax.eval_shape(lambda: model.init(jax.random.key(0), x, train=False))
    >>> sorted(variables["params"])
    ['heads_depth', 'heads_segmentation', 'hmsa_attention_segmentation', 'shared_encoder']
    >>> fused = jax.eval_shape(
    ...     lambda v: model.apply(v, x, (0.5, 1.0, 2.0), method="attention_fusion"), variables)
    >>> {k: v.shape for k, v in fused.items()}
    {'segmentation': (2, 8, 8, 3)}
  """
  network: nn.Module
  tasks: Sequence[str] = ("segmentation",)
  train_scale: float = 0.5
  attention_width: int = 16
  attention_stage: int = -1
  resize: str = "bilinear"

  def __post_init__(self):
    """Checks the options against the network (``ValueError`` "<option>: <problem>")."""
    wrapped.check_tasks("tasks", "hmsa", self.tasks, self.network)
    if isinstance(self.train_scale, bool) or not (
        isinstance(self.train_scale, (int, float)) and 0 < self.train_scale < 1):
      raise ValueError(f"train_scale: must lie in (0, 1), got {self.train_scale!r}")
    wrapped.check_positive_int("attention_width", self.attention_width)
    if self.resize not in multi_scale.RESIZES:
      raise ValueError(f"resize: unknown value {self.resize!r}; known:"
                       f" {', '.join(multi_scale.RESIZES)}")
    super().__post_init__()

  @property
  def _antialias(self) -> bool:
    return self.resize == "antialiased"

  def setup(self):
    nn.share_scope(self, self.network)
    norm = getattr(self.network, "norm", "batch")
    axis_name = getattr(self.network, "axis_name", None)
    self.hmsa_attention = {t: AttentionHead(self.attention_width, norm, axis_name)
                           for t in self.tasks}

  def _attention(self, representation, size, train: bool) -> dict:
    """``{task: [B, size, 1]}`` attention maps of one scale's representation."""
    x = stage_features(self.network, representation)[self.attention_stage]
    return {t: multi_scale.resize(head(x, train), size, self._antialias)
            for t, head in self.hmsa_attention.items()}

  def encode(self, images: jax.Array, train: bool):
    """Training: (representation at ``train_scale``, at 1); else the network's."""
    if not train:
      return self.network.encode(images, train)
    low = multi_scale.resize(images, multi_scale.scaled_size(images.shape[1:3], self.train_scale),
                             self._antialias)
    return self.network.encode(low, train), self.network.encode(images, train)

  def decode(self, features, train: bool) -> dict:
    """``{task: prediction}``; in training the fused tasks' are the pair's fusion."""
    if not train:
      preds = self.network.decode(features, train)
      if self.is_initializing():
        self._attention(features, next(iter(preds.values())).shape[1:3], train)
      return preds
    low, high = features
    p_low, p_high = self.network.decode(low, train), dict(self.network.decode(high, train))
    attns = self._attention(low, next(iter(p_low.values())).shape[1:3], train)
    for t in self.tasks:
      p_high[t] = multi_scale.fuse_pair(p_low[t], attns[t], p_high[t], self._antialias)
    return p_high

  def __call__(self, images: jax.Array, train: bool) -> dict:
    return self.decode(self.encode(images, train), train)

  def scale_outputs(self, images: jax.Array, scale: float):
    """Inference at one scale: ``({task: prediction}, {fused task: attention})`` at its size."""
    x = images if scale == 1.0 else multi_scale.resize(
        images, multi_scale.scaled_size(images.shape[1:3], scale), self._antialias)
    representation = self.network.encode(x, False)
    preds = self.network.decode(representation, False)
    return preds, self._attention(representation, next(iter(preds.values())).shape[1:3], False)

  def attention_fusion(self, images: jax.Array, scales: Sequence[float]) -> dict:
    """``{fused task: [B, H, W, C]}``: ``attention_chain`` over ``scales``, resized to the image."""
    outs = [self.scale_outputs(images, s) for s in scales]
    return {t: multi_scale.resize(
        multi_scale.attention_chain([o[0][t] for o in outs], [o[1][t] for o in outs], scales,
                                    self._antialias),
        images.shape[1:3], self._antialias) for t in self.tasks}
