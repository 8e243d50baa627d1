"""Monocular depth: L1 or attention-driven loss, absolute and relative error."""

import dataclasses
from typing import Any, Optional

import jax
import jax.numpy as jnp

from mtl_jax import metrics
from mtl_jax.tasks import depth_attention_loss as attention
from mtl_jax.tasks.base import Batch

LOSSES = ("l1", "attention")


@dataclasses.dataclass(frozen=True)
class Depth:
  """Per-pixel depth regression.

  Ground truth ``batch["depth"]``: float ``[B, H, W]``, valid where it is
  finite and > 0 (0 marks missing depth). MTAN's mask is ``d* != 0``; the two
  agree on every dataset mtl_jax builds, whose builders refuse negative depth
  (``data.modalities``) or never produce it. Head output ``pred``:
  ``[B, H, W, 1]``.

  Loss (``loss``, float32):

  * ``"l1"``: ``|d - d*|`` summed over the valid pixels;
  * ``"attention"``: SemBoost's depth terms of the attention-driven loss,
    ``L_DA + L_g(d, d*) + L_g(d, s)`` (``depth_attention_loss``): the
    depth-aware loss with distance ``distance`` (``"smooth_l1"`` with
    ``smooth_l1_beta``, ``"l1"`` or ``"l2"``), and the joint gradient loss on
    Sobel gradients against the ground truth and against ``s``, the semantic
    ground truth drawn as a piecewise-constant depth map
    (``attention.semantic_depth_map``). It reads ``batch["segmentation"]``
    (labels outside ``[0, num_classes)`` are ignored), so ``inputs`` names it.
    ``loss_terms`` gives the three terms' ``(sums [3], counts [3])``.

  Metrics (MTAN's
  definitions, accumulated over every valid pixel of the evaluation set rather
  than averaged over batches), in the ground truth's units:

  * ``abs_err = sum |d - d*| / N``;
  * ``rel_err = sum |d - d*| / d* / N``.

  Both are NaN when no pixel was valid.

  >>> task = Depth()
  >>> pred = jnp.array([[[[1.0], [3.0], [5.0]]]])  # [1, 1, 3, 1]
  >>> batch = {"depth": jnp.array([[[2.0, 2.0, 0.0]]])}
  >>> [float(x) for x in task.loss_terms(pred, batch)]
  [2.0, 2.0]
  >>> acc = task.metric_update(task.metric_init(), pred, batch)
  >>> {k: float(v) for k, v in task.metric_result(acc).items()}
  {'abs_err': 1.0, 'rel_err': 0.5}
  """

  loss: str = "l1"
  distance: str = "smooth_l1"
  smooth_l1_beta: float = 1.0
  num_classes: Optional[int] = None  # Set by the library: the dataset's classes.

  name = "depth"
  channels = 1
  higher_is_better = {"abs_err": False, "rel_err": False}

  def __post_init__(self):
    if self.loss not in LOSSES:
      raise ValueError(f"loss: unknown value {self.loss!r}; known: {', '.join(LOSSES)}")
    if self.distance not in attention.DISTANCES:
      raise ValueError(f"distance: unknown value {self.distance!r}; known:"
                       f" {', '.join(attention.DISTANCES)}")
    if not self.smooth_l1_beta > 0:
      raise ValueError(f"smooth_l1_beta: must be > 0, got {self.smooth_l1_beta!r}")
    if self.loss == "attention" and not (self.num_classes or 0) >= 1:
      raise ValueError("loss: 'attention' needs num_classes (the segmentation classes)")

  @property
  def inputs(self) -> tuple[str, ...]:
    """The batch keys the loss reads (besides the image)."""
    return ("depth", "segmentation") if self.loss == "attention" else ("depth",)

  def _terms(self, pred: jax.Array, batch: Batch):
    """(|d - d*| with 0 at invalid pixels, d* with 1 at invalid pixels, valid)."""
    gt = batch[self.name].astype(jnp.float32)
    valid = jnp.isfinite(gt) & (gt > 0)
    # Ground truth is sanitised before use, so invalid pixels (NaN, inf) give
    # neither NaN values nor NaN gradients through jnp.where.
    safe_gt = jnp.where(valid, gt, 1.0)
    err = jnp.where(valid, jnp.abs(self.predict(pred).astype(jnp.float32) - safe_gt), 0.0)
    return err, safe_gt, valid

  def loss_terms(self, pred: jax.Array, batch: Batch) -> tuple[jax.Array, jax.Array]:
    """(sum of ``|d - d*|`` over valid pixels: float32 [], valid pixels: int32 []).

    With ``loss="attention"``: ``(sums float32 [3], counts int32 [3])`` of
    ``L_DA``, ``L_g(d, d*)`` and ``L_g(d, s)``.
    """
    err, safe_gt, valid = self._terms(pred, batch)
    if self.loss == "l1":
      return err.sum(), valid.sum(dtype=jnp.int32)
    depth = self.predict(pred).astype(jnp.float32)
    labels = batch["segmentation"].astype(jnp.int32)
    label_valid = (labels >= 0) & (labels < self.num_classes)
    s, s_defined = attention.semantic_depth_map(labels, label_valid, safe_gt, valid,
                                                self.num_classes)
    terms = [attention.depth_aware_terms(depth, safe_gt, valid, self.distance,
                                         self.smooth_l1_beta),
             attention.gradient_terms(depth, safe_gt, valid),
             attention.gradient_terms(depth, s, s_defined)]
    return jnp.stack([t[0] for t in terms]), jnp.stack([t[1] for t in terms])

  def predict(self, pred: jax.Array) -> jax.Array:
    """Depth ``[B, H, W]``: the single output channel."""
    return pred[..., 0]

  def metric_init(self) -> dict[str, jax.Array]:
    """Zero sums of abs and rel error (float32) and the valid-pixel count (int32)."""
    return {"abs_sum": jnp.zeros((), jnp.float32), "rel_sum": jnp.zeros((), jnp.float32),
            "count": jnp.zeros((), jnp.int32)}

  def metric_update(self, acc: Any, pred: jax.Array, batch: Batch) -> dict[str, jax.Array]:
    """Adds the batch's error sums and valid-pixel count."""
    err, safe_gt, valid = self._terms(pred, batch)
    return {"abs_sum": acc["abs_sum"] + err.sum(),
            "rel_sum": acc["rel_sum"] + (err / safe_gt).sum(),
            "count": acc["count"] + valid.sum(dtype=jnp.int32)}

  def metric_result(self, acc: Any) -> dict[str, jax.Array]:
    """``{"abs_err", "rel_err"}``, float32 scalars."""
    return {"abs_err": metrics.safe_ratio(acc["abs_sum"], acc["count"]),
            "rel_err": metrics.safe_ratio(acc["rel_sum"], acc["count"])}
