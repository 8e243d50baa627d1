"""Single-task networks: one independent network per task, the baseline of Δm."""

from typing import Mapping, Optional, Sequence

import flax.linen as nn
import jax

from mtl_jax.models.networks.hps import HPS


class SingleTask(nn.Module):
  """T independent encoder-decoder networks, one per task; nothing is shared.

  Task ``t``'s network (``networks_<t>``) is ``hps`` with the one task ``t``:
  an encoder from ``mtl_jax.models.encoders`` and a U-Net decoder. Every
  parameter is task-specific, so the training step gives each network its own
  loss's gradient whatever the balancer (see ``mtl_jax.train``): the Δm
  baseline (``mtl_jax.metrics.delta_m``) trained in one run.

  Nothing learned is shared, so the shared representation (``encode``) is the
  input itself: ``encode`` returns the images, unchanged, and ``decode`` runs
  every network on them. At ``config.balancer.level="features"`` a balancer
  then sees each task's gradient with respect to the input pixels; its
  combination has no parameter to update.

  Attributes:
    task_channels: task name -> output channels of its head.
    widths: each network's encoder channels per stage.
    encoder: the encoder's name in ``mtl_jax.models.encoders``.
    depths: the encoder's layers or blocks per stage (None: its default).
    norm: "batch" (synchronised over ``axis_name``), "group" or "none".
    axis_name: the data-parallel axis name, or None.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> model = SingleTask(task_channels={"segmentation": 7, "depth": 1}, widths=(4, 8))
    >>> x = jax.ShapeDtypeStruct((2, 16, 24, 3), jnp.float32)
    >>> variables = jax.eval_shape(lambda x: model.init(jax.random.key(0), x, train=False), x)
    >>> sorted(variables["params"])
    ['networks_depth', 'networks_segmentation']
    >>> preds = jax.eval_shape(lambda v, x: model.apply(v, x, train=False), variables, x)
    >>> {k: preds[k].shape for k in sorted(preds)}
    {'depth': (2, 16, 24, 1), 'segmentation': (2, 16, 24, 7)}
  """
  task_channels: Mapping[str, int]
  widths: Sequence[int] = (16, 32, 64, 128)
  encoder: str = "conv"
  depths: Optional[Sequence[int]] = None
  norm: str = "batch"
  axis_name: Optional[str] = None
  remat: bool = False  # Rematerialise the encoder's stages (encoders.get).
  input_norm: str = "unit"  # How each encoder normalises the images (encoders.get).

  def setup(self):
    self.networks = {
        task: HPS({task: channels}, widths=self.widths, norm=self.norm,
                  axis_name=self.axis_name, encoder=self.encoder, depths=self.depths,
                  remat=self.remat, input_norm=self.input_norm)
        for task, channels in self.task_channels.items()
    }

  def encode(self, images: jax.Array, train: bool) -> jax.Array:
    """The shared representation: the images themselves (nothing learned is shared)."""
    del train
    return images

  def decode(self, images: jax.Array, train: bool) -> dict[str, jax.Array]:
    """``[B, H, W, 3]`` -> ``{task: [B, H, W, channels]}``, each from its own network."""
    return {task: network(images, train)[task] for task, network in self.networks.items()}

  def __call__(self, images: jax.Array, train: bool) -> dict[str, jax.Array]:
    return self.decode(self.encode(images, train), train)
