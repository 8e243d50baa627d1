"""Self-Regulation's multi-exit heads, as a wrapper around any network (Zhang et al., ICCV 2021).

The wrapper adds, in training only, a segmentation exit and an image-level
multi-label classifier on every block of the network's shared representation,
an image-level classifier on the network's own segmentation output, and the
features Self-Regulation's SR-F term compares. Inference (``train=False``)
runs the wrapped network alone: its cost is unchanged.
"""

from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from mtl_jax.models import multi_scale
from mtl_jax.models.blocks.conv_block import ConvBlock
from mtl_jax.models.interface import stage_features
from mtl_jax.models.wrappers import wrapped


class ExitHead(nn.Module):
  """One exit: ``conv3x3-norm-ReLU x2``, a 1x1 conv to K logits per pixel, and
  an image-level classifier ``Dense(K)`` of their spatial mean.

  ``[B, h, w, C] -> (pixel logits [B, h, w, K], image logits [B, K])``.
  """
  num_classes: int
  width: int = 16
  norm: str = "batch"
  axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, x: jax.Array, train: bool):
    x = ConvBlock(self.width, norm=self.norm, axis_name=self.axis_name)(x, train)
    x = ConvBlock(self.width, norm=self.norm, axis_name=self.axis_name)(x, train)
    logits = nn.Conv(self.num_classes, (1, 1))(x)
    return logits, nn.Dense(self.num_classes)(logits.mean(axis=(1, 2)))


class Exits(nn.Module):
  """Every block's exit, the main output's classifier, and SR-F's features.

  Input: the per-stage features (finest first) and the main logits
  ``[B, H, W, K]``. Output: the training dict of
  ``mtl_jax.tasks.self_regulation_loss.self_regulation_terms`` (exits resized
  to the main logits' size; deeper blocks' features projected by a 1x1 conv to
  the first block's channels and resized to its size).
  """
  num_classes: int
  width: int = 16
  norm: str = "batch"
  axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, stages, main_logits: jax.Array, train: bool) -> dict:
    size = main_logits.shape[1:3]
    exit_logits, class_logits = [], []
    for x in stages:
      z, c = ExitHead(self.num_classes, self.width, self.norm, self.axis_name)(x, train)
      exit_logits.append(multi_scale.resize(z, size))
      class_logits.append(c)
    class_logits.append(nn.Dense(self.num_classes)(main_logits.mean(axis=(1, 2))))
    teacher = stages[0]
    students = tuple(
        multi_scale.resize(nn.Conv(teacher.shape[-1], (1, 1))(x), teacher.shape[1:3])
        for x in stages[1:])
    return {"logits": main_logits, "exit_logits": tuple(exit_logits),
            "class_logits": jnp.stack(class_logits), "teacher": teacher, "students": students}


class SelfRegulation(wrapped.Wrapped, nn.Module):
  """A network with Self-Regulation's training-time exits on its blocks.

  The wrapped network's parameters keep their names (``nn.share_scope``); the
  exits live under ``sr_exits_<task>``, parameters of that task (see
  ``partition``). In training (``train=True``) the task's prediction is the
  dict of ``Exits`` (the segmentation task then computes the Self-Regulation
  loss); otherwise the network's output, unchanged.

  Attributes:
    network: any network of ``mtl_jax.models`` (its representation gives the
      blocks: see ``stages``).
    task: the segmentation task's name.
    exit_width: channels of the exits' convolutions.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> from mtl_jax.models.networks.hps import HPS
    >>> model = SelfRegulation(HPS({"segmentation": 3, "depth": 1}, widths=(4, 8)), exit_width=4)
    >>> x = jnp.zeros((2, 8, 8, 3))
    >>> variables = jax.eval_shape(lambda: model.init(jax.random.key(0), x, train=False))
    >>> sorted(variables["params"])
    ['heads_depth', 'heads_segmentation', 'shared_encoder', 'sr_exits_segmentation']
    >>> out, _ = jax.eval_shape(lambda v: model.apply(v, x, train=True, mutable=["batch_stats"]),
    ...                         variables)
    >>> out["segmentation"]["class_logits"].shape, len(out["segmentation"]["students"])
    ((3, 2, 3), 1)
  """
  network: nn.Module
  task: str = "segmentation"
  exit_width: int = 16

  def __post_init__(self):
    """Checks the options against the network (``ValueError`` "<option>: <problem>")."""
    wrapped.check_tasks("task", "self_regulation", (self.task,), self.network)
    wrapped.check_positive_int("exit_width", self.exit_width)
    super().__post_init__()

  def setup(self):
    nn.share_scope(self, self.network)
    self.sr_exits = {self.task: Exits(
        self.network.task_channels[self.task], self.exit_width,
        getattr(self.network, "norm", "batch"), getattr(self.network, "axis_name", None))}

  def encode(self, images: jax.Array, train: bool):
    """The wrapped network's shared representation."""
    return self.network.encode(images, train)

  def decode(self, features, train: bool) -> dict:
    """``{task: prediction}``; in training the segmentation task's is the exits' dict."""
    preds = dict(self.network.decode(features, train))
    if train or self.is_initializing():
      out = self.sr_exits[self.task](stage_features(self.network, features), preds[self.task],
                                     train)
      if train:
        preds[self.task] = out
    return preds

  def __call__(self, images: jax.Array, train: bool) -> dict:
    return self.decode(self.encode(images, train), train)
