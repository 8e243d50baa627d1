"""Semantic segmentation: per-pixel cross-entropy or focal loss, mIoU and pixel accuracy."""

import dataclasses
from typing import Any, Mapping, Optional

import jax
import jax.numpy as jnp

from mtl_jax import metrics
from mtl_jax.tasks import pixel_losses
from mtl_jax.tasks import self_regulation_loss
from mtl_jax.tasks.base import Batch


@dataclasses.dataclass(frozen=True)
class Segmentation:
  """Per-pixel classification into ``num_classes`` classes.

  Ground truth ``batch["segmentation"]``: int ``[B, H, W]`` class ids; pixels
  equal to ``ignore_label`` or outside ``[0, num_classes)`` are ignored (in the
  loss and in the metrics). Head output ``pred``: logits ``[B, H, W, C]``.

  Loss (``loss``), in float32, summed over the valid pixels:

  * ``"ce"``: softmax cross-entropy;
  * ``"focal"``: SemBoost's semantic focal loss ``-α_y (1 - p_y)^γ log p_y``
    (``focal_gamma`` γ, ``focal_alpha`` the K per-class α, None for ones; see
    ``pixel_losses.focal_loss``).

  When the network is wrapped for Self-Regulation, its training output is a
  dict (see ``mtl_jax.models.SelfRegulation``) and the loss becomes the
  Self-Regulation loss with that pixel loss at every exit
  (``self_regulation_loss``): weights ``sr_lambdas`` = (λ1, λ2, λ3),
  temperature ``sr_temperature``, the form of its SR-F and SR-L terms
  ``sr_form`` (``"paper"``, or ``"script"``: the authors' public script's), and
  those terms off during the first ``sr_warmup_steps`` steps (read from
  ``batch["step"]``; on when absent).
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
  loss: str = "ce"
  focal_gamma: float = 2.0
  focal_alpha: Optional[tuple[float, ...]] = None
  sr_lambdas: tuple[float, float, float] = (0.2, 0.8, 1.0)
  sr_temperature: float = 1.0
  sr_warmup_steps: int = 0
  sr_form: str = "paper"
  class_names: tuple[str, ...] = ()

  name = "segmentation"
  higher_is_better = {"miou": True, "pixel_acc": True}

  def __post_init__(self):
    if self.num_classes < 1:
      raise ValueError(f"num_classes must be >= 1, got {self.num_classes}")
    if self.loss not in pixel_losses.PIXEL_LOSSES:
      raise ValueError(f"loss: unknown value {self.loss!r}; known:"
                       f" {', '.join(pixel_losses.PIXEL_LOSSES)}")
    if not self.focal_gamma >= 0:
      raise ValueError(f"focal_gamma: must be >= 0, got {self.focal_gamma!r}")
    if self.focal_alpha is not None:
      object.__setattr__(self, "focal_alpha", tuple(float(a) for a in self.focal_alpha))
      if len(self.focal_alpha) != self.num_classes:
        raise ValueError(f"focal_alpha: needs one weight per class ({self.num_classes}),"
                         f" got {len(self.focal_alpha)}")
    object.__setattr__(self, "sr_lambdas", tuple(float(x) for x in self.sr_lambdas))
    if len(self.sr_lambdas) != 3:
      raise ValueError(f"sr_lambdas: needs (λ1, λ2, λ3), got {self.sr_lambdas}")
    if not self.sr_temperature > 0:
      raise ValueError(f"sr_temperature: must be > 0, got {self.sr_temperature!r}")
    if self.sr_form not in self_regulation_loss.FORMS:
      raise ValueError(f"sr_form: unknown value {self.sr_form!r}; known:"
                       f" {', '.join(self_regulation_loss.FORMS)}")
    if not isinstance(self.sr_warmup_steps, int) or self.sr_warmup_steps < 0:
      raise ValueError(f"sr_warmup_steps: must be an integer >= 0, got {self.sr_warmup_steps!r}")

  @property
  def channels(self) -> int:
    """C, the number of logits per pixel."""
    return self.num_classes

  def _valid(self, labels: jax.Array) -> jax.Array:
    return (labels != self.ignore_label) & (labels >= 0) & (labels < self.num_classes)

  def pixel_loss(self, logits: jax.Array, labels: jax.Array, valid: jax.Array) -> jax.Array:
    """The configured per-pixel loss ``float32 [B, H, W]``, 0 at invalid pixels."""
    if self.loss == "focal":
      return pixel_losses.focal_loss(logits, labels, valid, self.focal_gamma, self.focal_alpha)
    return pixel_losses.cross_entropy(logits, labels, valid)

  def loss_terms(self, pred, batch: Batch) -> tuple[jax.Array, jax.Array]:
    """(sum of the pixel loss over valid pixels: float32 [], valid pixels: int32 []).

    Ignored pixels contribute exactly 0 to the sum and to its gradient; an
    all-ignored batch gives ``(0., 0)``. For a Self-Regulation training output
    (a dict), the four terms ``(sums [4], counts [4])`` of
    ``self_regulation_loss.self_regulation_terms``.
    """
    labels = batch[self.name].astype(jnp.int32)
    valid = self._valid(labels)
    if isinstance(pred, Mapping):
      step = batch.get("step")
      gate = 1.0 if step is None else (step >= self.sr_warmup_steps).astype(jnp.float32)
      return self_regulation_loss.self_regulation_terms(
          pred, labels, valid, self.pixel_loss, self.sr_lambdas, self.sr_temperature, gate,
          self.sr_form)
    return self.pixel_loss(pred, labels, valid).sum(), valid.sum(dtype=jnp.int32)

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
    """``{"miou", "pixel_acc"}`` in percent, float32 scalars; with ``class_names``, also
    each class's IoU in percent as ``"iou/<class>"`` (NaN for a class absent from both
    ground truth and prediction)."""
    cm = acc["confusion"]
    results = {"miou": 100.0 * metrics.mean_iou(cm),
               "pixel_acc": 100.0 * metrics.pixel_accuracy(cm)}
    if self.class_names:
      per_class = 100.0 * metrics.class_iou(cm)
      results.update({f"iou/{name}": per_class[c] for c, name in enumerate(self.class_names)})
    return results
