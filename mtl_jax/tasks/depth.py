"""Monocular depth: L1 loss, absolute and relative error."""

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from mtl_jax import metrics
from mtl_jax.tasks.base import Batch


@dataclasses.dataclass(frozen=True)
class Depth:
  """Per-pixel depth regression.

  Ground truth ``batch["depth"]``: float ``[B, H, W]``, valid where it is
  finite and > 0 (0 marks missing depth). Head output ``pred``: ``[B, H, W, 1]``.

  Loss: ``|d - d*|`` summed over the valid pixels (float32). Metrics (MTAN's
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

  name = "depth"
  channels = 1
  higher_is_better = {"abs_err": False, "rel_err": False}

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
    """(sum of ``|d - d*|`` over valid pixels: float32 [], valid pixels: int32 [])."""
    err, _, valid = self._terms(pred, batch)
    return err.sum(), valid.sum(dtype=jnp.int32)

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
