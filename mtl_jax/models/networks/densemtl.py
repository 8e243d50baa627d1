"""DenseMTL: per-task decoders that exchange features through cross-task attention."""

from typing import Mapping, Optional, Sequence, Union

import flax.linen as nn
import jax

from mtl_jax.models import encoders
from mtl_jax.models.decoders.staged import StagedDecoder
from mtl_jax.models.blocks.task_exchange import TaskExchange
from mtl_jax.models.blocks.resize import to_input_resolution


class DenseMTL(nn.Module):
  """DenseMTL (Lopes, Vu, de Charette, "Cross-task Attention Mechanism for Dense
  Multi-task Learning", WACV 2023).

  A shared encoder and one ``StagedDecoder`` per task, run in lockstep. After
  the decoders' blocks at each stage ``i`` in ``stages``, every task t takes
  ``x_t <- TaskExchange(x_t, {x_s : s != t})``: for every ordered pair s→t a
  feature extractor on s, a self-attention term (conv ⊙ sigmoid(conv)) and the
  correlation-guided cross-task attention ``XTAM`` (queries from t, keys and
  values from s, reduced by ``pool``, softmax over source positions, scaled by
  a per-channel factor initialised to zero), projected and fused, and added to
  t's features; ``variant`` picks the official code's blocks (``"official"``:
  conv-norm-ReLU projections, max-pooled sources, nearest resizing, two fusing
  stages) or ours (``"mtl_jax"``; see ``TaskExchange``). All tasks exchange their pre-exchange
  features of the same stage. Supports any set of tasks (segmentation, depth,
  normals); with one task there is no pair and no exchange.

  Parameters (``mtl_jax.models.partition``): ``shared_encoder`` is shared;
  task t owns ``decoders_<t>`` and ``exchange_stage<i>_<t>``, the modules of
  every pair s→t. The s→t module belongs to its TARGET t because its output
  enters t's prediction only: L_s does not depend on it, so giving it only
  t's gradient loses nothing. The converse coupling is real and is not hidden
  by the split: t's loss reaches s's decoder (the stages up to the exchange)
  through the s→t extractor; the training step gives task-specific parameters
  the gradient of the (unweighted for gradient methods, weighted for loss
  weightings) sum of the task losses, so s's decoder gets L_t's share too,
  while gradient balancers act on the encoder, as the paper's setting intends.

  Attributes:
    task_channels: task name -> output channels of its head.
    widths: encoder channels per stage, finest first.
    decoder_widths: the decoders' channels per stage (default ``widths``).
    stages: decoder stages (encoder stage indices, 0 = finest) where tasks exchange.
    pool: XTAM's pooling factor, one for all stages or one per entry of ``stages``.
    self_attention: include the self-attention term (ablation switch).
    cross_attention: include the xTAM term (ablation switch).
    encoder: the shared encoder's name in ``mtl_jax.models.encoders``.
    depths: the encoder's layers or blocks per stage (None: its default).
    norm: "batch" (synchronised over ``axis_name``), "group" or "none".
    axis_name: the data-parallel axis name, or None.
    variant: ``"official"`` or ``"mtl_jax"``, the exchange's blocks.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> model = DenseMTL(task_channels={"segmentation": 7, "depth": 1}, widths=(4, 8))
    >>> x = jnp.zeros((2, 16, 24, 3))
    >>> preds, variables = jax.eval_shape(
    ...     lambda: model.init_with_output(jax.random.key(0), x, train=False))
    >>> {k: preds[k].shape for k in sorted(preds)}
    {'depth': (2, 16, 24, 1), 'segmentation': (2, 16, 24, 7)}
    >>> for name in sorted(variables["params"]):
    ...   print(name)
    decoders_depth
    decoders_segmentation
    exchange_stage1_depth
    exchange_stage1_segmentation
    shared_encoder
  """
  # The task decoders exchange features: the training step back-propagates
  # them once per task from one forward pass (``train._per_task_backward``).
  COUPLED_DECODERS = True

  task_channels: Mapping[str, int]
  widths: Sequence[int] = (16, 32, 64, 128)
  decoder_widths: Optional[Sequence[int]] = None
  stages: Sequence[int] = (1,)
  pool: Union[int, Sequence[int]] = 2
  self_attention: bool = True
  cross_attention: bool = True
  norm: str = "batch"
  axis_name: Optional[str] = None
  encoder: str = "conv"
  depths: Optional[Sequence[int]] = None
  variant: str = "official"
  remat: bool = False  # Rematerialise the encoder's stages (encoders.get).
  # How the encoder normalises the images: "unit" or "imagenet" (for pretrained weights).
  input_norm: str = "unit"

  def setup(self):
    num_stages = len(self.widths)
    widths = tuple(self.decoder_widths or self.widths)
    if len(widths) != num_stages:
      raise ValueError(f"decoder_widths={widths}: need one width per encoder stage"
                       f" ({num_stages})")
    pools = (self.pool,) * len(self.stages) if isinstance(self.pool, int) else tuple(self.pool)
    if len(pools) != len(self.stages) or min(pools, default=1) < 1:
      raise ValueError(f"pool={self.pool}: one factor >= 1, or one per stage of {self.stages}")
    if len(set(self.stages)) != len(self.stages) or not all(
        0 <= i < num_stages for i in self.stages):
      raise ValueError(f"stages={tuple(self.stages)}: distinct stages in 0..{num_stages - 1}"
                       " (encoder stage indices, finest first)")
    tasks = tuple(self.task_channels)
    self.shared_encoder = encoders.get(self.encoder, widths=self.widths, depths=self.depths,
                                       norm=self.norm, axis_name=self.axis_name, remat=self.remat,
                                       input_norm=self.input_norm)
    self.decoders = {t: StagedDecoder(c, widths, self.norm, self.axis_name)
                     for t, c in self.task_channels.items()}
    exchange = {}
    if len(tasks) > 1:
      for i, pool in zip(self.stages, pools):
        exchange[f"stage{i}"] = {
            t: TaskExchange(tuple(s for s in tasks if s != t), widths[i], pool,
                            self.self_attention, self.cross_attention, self.norm,
                            self.axis_name, self.variant)
            for t in tasks}
    self.exchange = exchange

  def encode(self, images: jax.Array, train: bool):
    """``[B, H, W, 3]`` images -> the shared representation (features per scale)."""
    return self.shared_encoder(images, train)

  def decode(self, features, train: bool) -> dict[str, jax.Array]:
    """Shared representation -> ``{task: [B, H, W, channels]}``."""
    x = {t: None for t in self.task_channels}
    for i in reversed(range(len(features))):
      x = {t: self.decoders[t].stage(i, x[t], features, train) for t in x}
      if f"stage{i}" in self.exchange:
        exchange = self.exchange[f"stage{i}"]
        x = {t: exchange[t](x[t], {s: x[s] for s in x if s != t}, train) for t in x}
    stride = self.shared_encoder.INPUT_STRIDE
    return {t: to_input_resolution(self.decoders[t].predict(x[t]), stride) for t in x}

  def __call__(self, images: jax.Array, train: bool) -> dict[str, jax.Array]:
    return self.decode(self.encode(images, train), train)
