"""Semantic segmentation: per-pixel cross-entropy, mIoU and pixel accuracy."""

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax

from mtl_jax import metrics
from mtl_jax.tasks.base import Batch


@dataclasses.dataclass(frozen=True)
class Segmentation:
  """Per-pixel classification into ``num_classes`` classes.

  Ground truth ``batch["segmentation"]``: int ``[B, H, W]`` class ids; pixels
  equal to ``ignore_label`` or outside ``[0, num_classes)`` are ignored (in the
  loss and in the metrics). Head output ``pred``: logits ``[B, H, W, C]``.

  Loss: softmax cross-entropy, in float32, summed over the valid pixels.
  Metrics, from a confusion matrix accumulated over the whole evaluation set,
  in percent (as the field's tables quote them):

  * ``miou``: ``100 * mean_c TP_c / (TP_c + FP_c + FN_c)`` over the classes
    present in the ground truth or the prediction (nanmean);
  * ``pixel_acc``: ``100 * correct valid pixels / valid pixels``.

  Both are NaN when no pixel was valid.

  >>> task = Segmentation(num_classes=2)
  >>> logits = jnp.array([[[[2.0, 0.0], [0.0, 2.0], [0.0, 2.0]]]])  # [1, 1, 3, 2]
  >>> batch = {"segmentation": jnp.array([[[0, 0, -1]]])}
  >>> total, count = task.loss_terms(logits, batch)
  >>> int(count)
  2
  >>> acc = task.metric_update(task.metric_init(), logits, batch)
  >>> {k: round(float(v), 2) for k, v in task.metric_result(acc).items()}
  {'miou': 25.0, 'pixel_acc': 50.0}
  """

  num_classes: int
  ignore_label: int = -1

  name = "segmentation"
  higher_is_better = {"miou": True, "pixel_acc": True}

  def __post_init__(self):
    if self.num_classes < 1:
      raise ValueError(f"Segmentation: num_classes must be >= 1, got {self.num_classes}")

  @property
  def channels(self) -> int:
    """C, the number of logits per pixel."""
    return self.num_classes

  def _valid(self, labels: jax.Array) -> jax.Array:
    return (labels != self.ignore_label) & (labels >= 0) & (labels < self.num_classes)

  def loss_terms(self, pred: jax.Array, batch: Batch) -> tuple[jax.Array, jax.Array]:
    """(sum of cross-entropy over valid pixels: float32 [], valid pixels: int32 []).

    ``CE = -log softmax(pred)[label]`` per pixel. Ignored pixels contribute
    exactly 0 to the sum and to its gradient; an all-ignored batch gives
    ``(0., 0)``.
    """
    labels = batch[self.name].astype(jnp.int32)
    valid = self._valid(labels)
    ce = optax.softmax_cross_entropy_with_integer_labels(
        pred.astype(jnp.float32), jnp.where(valid, labels, 0))
    return jnp.where(valid, ce, 0.0).sum(), valid.sum(dtype=jnp.int32)

  def predict(self, pred: jax.Array) -> jax.Array:
    """Class ids ``int32 [B, H, W]``: the argmax of the logits."""
    return jnp.argmax(pred, axis=-1).astype(jnp.int32)

  def metric_init(self) -> dict[str, jax.Array]:
    """``{"confusion": int32 [C, C] zeros}`` (rows ground truth, columns prediction)."""
    return {"confusion": jnp.zeros((self.num_classes, self.num_classes), jnp.int32)}

  def metric_update(self, acc: Any, pred: jax.Array, batch: Batch) -> dict[str, jax.Array]:
    """Adds the batch's confusion matrix over its valid pixels."""
    labels = batch[self.name].astype(jnp.int32)
    cm = metrics.confusion_matrix(labels, self.predict(pred), self.num_classes,
                                  self._valid(labels))
    return {"confusion": acc["confusion"] + cm}

  def metric_result(self, acc: Any) -> dict[str, jax.Array]:
    """``{"miou", "pixel_acc"}`` in percent, float32 scalars."""
    cm = acc["confusion"]
    return {"miou": 100.0 * metrics.mean_iou(cm),
            "pixel_acc": 100.0 * metrics.pixel_accuracy(cm)}
