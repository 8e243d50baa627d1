"""Edge estimation, DenseMTL's fourth task: two-class weighted cross-entropy and F1.

The conventions of the DenseMTL authors' code (Lopes et al., WACV 2023; their
``EdgesLoss`` and edge metrics): the head predicts two logits per pixel
(background, edge), the loss is the softmax cross-entropy weighted per class by
``(1 - pos_weight, pos_weight)`` = (0.05, 0.95) and averaged by those weights
(PyTorch's ``cross_entropy(weight=...)``), and the score is the F1 of the
argmax prediction from a confusion matrix accumulated over the whole split (no
pixel tolerance, no threshold sweep: not BSDS's ODS/OIS).

Ground truth: ``batch["edges"]``, int ``[B, H, W]``, 1 edge, 0 not, -1
unknown; or, where a dataset stores no edges (NYUv2's and Cityscapes'
releases), derived in the step from ``batch["segmentation"]`` after the
augmentations (``labels="segmentation"``): ``edges_from_labels``.
"""

import dataclasses
from typing import Any, Optional

import jax
import jax.numpy as jnp

from mtl_jax import metrics
from mtl_jax.tasks.base import Batch

LABELS = ("dataset", "segmentation")  # Where the ground truth comes from.


def edges_from_labels(labels: jax.Array, num_classes: Optional[int] = None) -> jax.Array:
  """Semantic boundaries of ``labels`` ``[..., H, W]``: int32, 1 edge, 0 not, -1 unknown.

  A pixel is an edge when one of its 4 neighbours holds another valid class;
  pixels with an invalid label (< 0, or >= ``num_classes`` when given) are
  unknown, and an invalid neighbour makes no edge. Both sides of a boundary are
  marked, so boundaries are two pixels wide.

  >>> edges_from_labels(jnp.array([[0, 0, 1], [0, 0, -1]])).tolist()
  [[0, 1, 1], [0, 0, -1]]
  """
  labels = jnp.asarray(labels).astype(jnp.int32)
  valid = labels >= 0
  if num_classes is not None:
    valid &= labels < num_classes
  edge = jnp.zeros(labels.shape, bool)
  for axis in (-2, -1):
    n = labels.shape[axis]
    a = jax.lax.slice_in_dim(labels, 1, n, axis=axis)
    b = jax.lax.slice_in_dim(labels, 0, n - 1, axis=axis)
    va = jax.lax.slice_in_dim(valid, 1, n, axis=axis)
    vb = jax.lax.slice_in_dim(valid, 0, n - 1, axis=axis)
    differ = (a != b) & va & vb
    pad_after = [(0, 0)] * labels.ndim
    pad_before = [(0, 0)] * labels.ndim
    pad_after[axis] = (0, 1)
    pad_before[axis] = (1, 0)
    edge |= jnp.pad(differ, pad_after) | jnp.pad(differ, pad_before)
  return jnp.where(valid, edge.astype(jnp.int32), -1)


@dataclasses.dataclass(frozen=True)
class Edges:
  """Per-pixel edge / not-edge classification.

  Head output ``pred``: logits ``[B, H, W, 2]`` (background, edge).

  Loss: ``Σ_p w_{y_p} CE(pred_p, y_p) / Σ_p w_{y_p}`` over the known pixels,
  ``w = (1 - pos_weight, pos_weight)``; returned as that (sum, weight sum), so
  the data-parallel step divides global sums.

  Metrics, in percent, from the ``[2, 2]`` confusion matrix of the split
  (rows truth, columns prediction), ``F1_c = 2 TP_c / (row_c + column_c)``:

  * ``f1``: the mean of the two classes' F1 (the authors' reported "F1");
  * ``edge_f1``: the edge class's F1 alone (harmonic mean of its precision and
    recall).

  Args:
    pos_weight: the edge class's weight; the background's is ``1 - pos_weight``.
    labels: "dataset" reads ``batch["edges"]``; "segmentation" derives them
      from ``batch["segmentation"]`` (``edges_from_labels``).
    num_classes: the dataset's classes (set by the library), for the labels
      derived from segmentation.

  >>> task = Edges()
  >>> logits = jnp.array([[[[0.0, 2.0], [2.0, 0.0], [0.0, 2.0]]]])  # [1, 1, 3, 2]
  >>> acc = task.metric_update(task.metric_init(), logits, {"edges": jnp.array([[[1, 0, 0]]])})
  >>> {k: round(float(v), 1) for k, v in task.metric_result(acc).items()}
  {'f1': 66.7, 'edge_f1': 66.7}
  """

  pos_weight: float = 0.95
  labels: str = "dataset"
  num_classes: Optional[int] = None

  name = "edges"
  derived_from = "segmentation"  # labels="segmentation" derives them (build.build_tasks).
  channels = 2
  higher_is_better = {"f1": True, "edge_f1": True}

  def __post_init__(self):
    if not 0.0 < self.pos_weight < 1.0:
      raise ValueError(f"pos_weight: must be in (0, 1), got {self.pos_weight!r}")
    if self.labels not in LABELS:
      raise ValueError(f"labels: unknown value {self.labels!r}; known: {', '.join(LABELS)}")

  @property
  def inputs(self) -> tuple[str, ...]:
    """The batch keys the ground truth comes from."""
    return ("segmentation",) if self.labels == "segmentation" else ("edges",)

  def ground_truth(self, batch: Batch) -> jax.Array:
    """int32 ``[B, H, W]``: 1 edge, 0 not, -1 unknown."""
    if self.labels == "segmentation":
      return edges_from_labels(batch["segmentation"], self.num_classes)
    return batch[self.name].astype(jnp.int32)

  def loss_terms(self, pred, batch: Batch) -> tuple[jax.Array, jax.Array]:
    """(Σ weighted cross-entropy over known pixels, Σ of their class weights), float32."""
    labels = self.ground_truth(batch)
    known = (labels == 0) | (labels == 1)
    target = jnp.where(known, labels, 0)
    logp = jax.nn.log_softmax(pred.astype(jnp.float32), axis=-1)
    nll = -jnp.take_along_axis(logp, target[..., None], axis=-1)[..., 0]
    weight = jnp.where(target == 1, self.pos_weight, 1.0 - self.pos_weight)
    weight = jnp.where(known, weight, 0.0).astype(jnp.float32)
    return (weight * nll).sum(), weight.sum()

  def predict(self, pred: jax.Array) -> jax.Array:
    """int32 ``[B, H, W]``: 1 where the edge logit is the larger."""
    return jnp.argmax(pred, axis=-1).astype(jnp.int32)

  def metric_init(self) -> dict[str, jax.Array]:
    """``{"confusion": int32 [2, 2] zeros}``."""
    return {"confusion": jnp.zeros((2, 2), jnp.int32)}

  def metric_update(self, acc: Any, pred: jax.Array, batch: Batch) -> dict[str, jax.Array]:
    """Adds the batch's confusion matrix over its known pixels."""
    cm = metrics.confusion_matrix(self.ground_truth(batch), self.predict(pred), 2)
    return {"confusion": acc["confusion"] + cm}

  def metric_result(self, acc: Any) -> dict[str, jax.Array]:
    """``f1`` and ``edge_f1`` in percent (NaN for a class with no pixel in truth or prediction)."""
    cm = acc["confusion"].astype(jnp.float32)
    f1 = 2.0 * jnp.diag(cm) / (cm.sum(axis=0) + cm.sum(axis=1))
    return {"f1": 100.0 * jnp.nanmean(f1), "edge_f1": 100.0 * f1[1]}
