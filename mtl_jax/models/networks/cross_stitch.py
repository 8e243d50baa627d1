"""Cross-stitch networks (Misra, Shrivastava, Gupta, Hebert, CVPR 2016)."""

from typing import Mapping, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from mtl_jax.models import encoders
from mtl_jax.models.blocks.resize import to_input_resolution
from mtl_jax.models.decoders.unet import UNetDecoder


def stitch_init(num_tasks: int, self_weight: float = 0.9) -> jax.Array:
  """``[T, T]``: ``self_weight`` on the diagonal, ``(1 - self_weight) / (T - 1)`` elsewhere.

  Rows sum to one (each task starts from a convex combination: mostly its own
  column), the 0.9/0.1 of Misra et al.'s best initialisation for two tasks.

  >>> [[round(float(a), 3) for a in row] for row in stitch_init(3)]
  [[0.9, 0.05, 0.05], [0.05, 0.9, 0.05], [0.05, 0.05, 0.9]]
  """
  if num_tasks == 1:
    return jnp.ones((1, 1), jnp.float32)
  other = (1.0 - self_weight) / (num_tasks - 1)
  alpha = np.full((num_tasks, num_tasks), other) + (self_weight - other) * np.eye(num_tasks)
  return jnp.asarray(alpha, jnp.float32)


class CrossStitchUnit(nn.Module):
  """``x'_s = sum_t alpha[s, t] x_t`` over T same-shaped task features.

  ``alpha`` ``[T, T]`` is learned, one matrix per unit (Misra et al.'s
  equation (1), shared over channels), initialised by ``stitch_init``.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> xs = (jnp.ones((1, 2, 2, 3)), jnp.zeros((1, 2, 2, 3)))
    >>> unit = CrossStitchUnit()
    >>> v = unit.init(jax.random.key(0), xs)
    >>> [round(float(x[0, 0, 0, 0]), 4) for x in jax.jit(unit.apply)(v, xs)]
    [0.9, 0.1]
  """
  self_weight: float = 0.9

  @nn.compact
  def __call__(self, features: Sequence[jax.Array]) -> tuple[jax.Array, ...]:
    num = len(features)
    alpha = self.param("alpha", lambda key: stitch_init(num, self.self_weight))
    return tuple(sum(alpha[s, t] * features[t] for t in range(num)) for s in range(num))


class CrossStitch(nn.Module):
  """One encoder column per task, cross-stitch units after every encoder stage, task decoders.

  Column ``k`` (``columns_k``, the ``k``-th task of ``task_channels``) is an
  encoder from ``mtl_jax.models.encoders``; after each stage ``j`` the T
  columns' features are mixed by a cross-stitch unit (``stitches_j``, Misra et
  al. place one after every pooling layer) and each column goes on from its
  mixed feature. Task ``t``'s U-Net decoder (``decoders_<t>``, as in ``hps``)
  reads its column's mixed features at every stage.

  Parameter split: through the units every column reaches every task's loss,
  so the columns and the units are shared parameters (balanced like any shared
  encoder); only the decoders are task-specific. The shared representation
  (``encode``) is what the decoders read: the mixed features of every column at
  every stage, ``((column 0's stages), ..., (column T-1's stages))``; task
  ``t``'s gradient of it is nonzero only on its own column's part.

  Attributes:
    task_channels: task name -> output channels of its head.
    widths: every column's channels per stage.
    encoder: the columns' encoder name in ``mtl_jax.models.encoders``.
    depths: the encoder's layers or blocks per stage (None: its default).
    self_weight: the units' initial weight of a column's own feature.
    norm: "batch" (synchronised over ``axis_name``), "group" or "none".
    axis_name: the data-parallel axis name, or None.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> model = CrossStitch(task_channels={"segmentation": 7, "depth": 1}, widths=(4, 8))
    >>> x = jax.ShapeDtypeStruct((2, 16, 24, 3), jnp.float32)
    >>> variables = jax.eval_shape(lambda x: model.init(jax.random.key(0), x, train=False), x)
    >>> sorted(variables["params"])  # doctest: +NORMALIZE_WHITESPACE
    ['columns_0', 'columns_1', 'decoders_depth', 'decoders_segmentation',
     'stitches_0', 'stitches_1']
    >>> preds = jax.eval_shape(lambda v, x: model.apply(v, x, train=False), variables, x)
    >>> {k: preds[k].shape for k in sorted(preds)}
    {'depth': (2, 16, 24, 1), 'segmentation': (2, 16, 24, 7)}
  """
  task_channels: Mapping[str, int]
  widths: Sequence[int] = (16, 32, 64, 128)
  encoder: str = "conv"
  depths: Optional[Sequence[int]] = None
  self_weight: float = 0.9
  norm: str = "batch"
  axis_name: Optional[str] = None
  remat: bool = False  # Rematerialise the encoder's stages (encoders.get).
  # How the encoder normalises the images: "unit" or "imagenet" (for pretrained weights).
  input_norm: str = "unit"

  def setup(self):
    self.columns = [encoders.get(self.encoder, widths=self.widths, depths=self.depths,
                                 norm=self.norm, axis_name=self.axis_name, remat=self.remat,
                                       input_norm=self.input_norm)
                    for _ in self.task_channels]
    self.stitches = [CrossStitchUnit(self.self_weight) for _ in self.widths]
    self.decoders = {
        task: UNetDecoder(channels, tuple(self.widths[:-1]), self.norm, self.axis_name)
        for task, channels in self.task_channels.items()
    }

  def encode(self, images: jax.Array, train: bool) -> tuple[tuple[jax.Array, ...], ...]:
    """``[B, H, W, 3]`` -> every column's mixed features, ``[column][stage]``."""
    xs = [images] * len(self.columns)
    per_column = [[] for _ in self.columns]
    for j, stitch in enumerate(self.stitches):
      xs = stitch([column.stage(j, x, train)[1] for column, x in zip(self.columns, xs)])
      for features, x in zip(per_column, xs):
        features.append(x)
    return tuple(tuple(features) for features in per_column)

  def decode(self, features, train: bool) -> dict[str, jax.Array]:
    """Shared representation -> ``{task: [B, H, W, channels]}``."""
    stride = self.columns[0].INPUT_STRIDE
    return {task: to_input_resolution(self.decoders[task](column, train), stride)
            for task, column in zip(self.task_channels, features)}

  def __call__(self, images: jax.Array, train: bool) -> dict[str, jax.Array]:
    return self.decode(self.encode(images, train), train)
