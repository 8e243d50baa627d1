"""Surface normals: cosine loss and angle-error metrics."""

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import optax

from mtl_jax import metrics
from mtl_jax.tasks.base import Batch

# Angle thresholds (degrees) of the "within" metrics, as in MTAN's tables.
THRESHOLDS = (11.25, 22.5, 30.0)
# Norm below which a predicted normal is treated as zero (its direction is undefined).
_MIN_NORM = 1e-6
# The loss normalises by sqrt(|p|^2 + _LOSS_EPS^2): the same as |p| for any
# prediction of non-negligible length, and a continuous gradient bounded by
# 1 / _LOSS_EPS where a hard normalisation's gradient grows as 1 / |p|.
_LOSS_EPS = 1e-3


VALIDITY = ("channel_sum", "nonzero")


def _within_key(threshold: float) -> str:
  return f"within_{threshold:g}"


@dataclasses.dataclass(frozen=True)
class Normals:
  """Per-pixel surface-normal regression.

  Ground truth ``batch["normals"]``: float ``[B, H, W, 3]`` unit vectors
  (shorter where the field's scale-crop augmentation blends normals; used as
  they are, as MTAN does). Validity (``valid``): ``"channel_sum"`` (default),
  MTAN's mask, a pixel whose components sum to non-zero (the mask behind every
  published table: it also drops a valid normal whose components happen to sum
  to exactly 0); ``"nonzero"``, a pixel with any non-zero component. Head
  output ``pred``: ``[B, H, W, 3]``, normalised here (a zero prediction stays
  zero: no NaN).

  Loss: ``1 - <n, n*>`` with ``n = pred / sqrt(|pred|^2 + 1e-6)``, summed
  over valid pixels (MTAN's ``pred / |pred|`` wherever ``|pred| >> 1e-3``; the
  small constant keeps the gradient of a near-zero head output bounded).
  Metrics on the angle error ``θ = degrees(arccos(clip(<n, n*>, -1, 1)))``
  (MTAN's definition) over all valid pixels of the evaluation set:

  * ``mean_angle``: mean θ, degrees;
  * ``median_angle``: median θ, degrees, from an int32 histogram of θ with
    bins of ``bin_width_degrees`` over [0, 180], interpolated within the
    median bin(s) (``metrics.histogram_median``): within one bin width of the
    exact median of the θ computed;
  * ``within_11.25``, ``within_22.5``, ``within_30``: percent of valid pixels
    with θ < threshold, from exact counts.

  All are NaN when no pixel was valid. Note that float32 arccos resolves
  angles near 0 only to about 0.02 degrees.

  >>> task = Normals(bin_width_degrees=1.0)
  >>> pred = jnp.array([[[[0.0, 0.0, 2.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]])
  >>> batch = {"normals": jnp.array([[[[0.0, 0.0, 1.0]] * 2 + [[0.0, 0.0, 0.0]]]])}
  >>> [round(float(x), 5) for x in task.loss_terms(pred, batch)]  # (1 - 1) + (1 - 0)
  [1.0, 2.0]
  >>> acc = task.metric_update(task.metric_init(), pred, batch)
  >>> {k: round(float(v), 2) for k, v in task.metric_result(acc).items()}
  {'mean_angle': 45.0, 'median_angle': 45.5, 'within_11.25': 50.0, 'within_22.5': 50.0, 'within_30': 50.0}
  """

  bin_width_degrees: float = 0.01
  valid: str = "channel_sum"

  name = "normals"
  channels = 3
  higher_is_better = {"mean_angle": False, "median_angle": False,
                      **{_within_key(t): True for t in THRESHOLDS}}

  def __post_init__(self):
    if not self.bin_width_degrees > 0:
      raise ValueError(
          f"bin_width_degrees: must be > 0, got {self.bin_width_degrees}")
    if self.valid not in VALIDITY:
      raise ValueError(f"valid: unknown value {self.valid!r}; known: {', '.join(VALIDITY)}")

  @property
  def num_bins(self) -> int:
    """Histogram bins covering [0, 180] degrees."""
    return max(1, math.ceil(round(180.0 / self.bin_width_degrees, 6)))

  def _terms(self, pred: jax.Array, batch: Batch, soft: bool = False):
    """(cosine <n, n*>: [B, H, W] with 0 at invalid pixels, valid: bool [B, H, W])."""
    gt = batch[self.name].astype(jnp.float32)
    finite = jnp.all(jnp.isfinite(gt), axis=-1)
    gt = jnp.where(finite[..., None], gt, 0.0)
    if self.valid == "channel_sum":
      valid = finite & (jnp.sum(gt, axis=-1) != 0)
    else:
      valid = finite & jnp.any(gt != 0, axis=-1)
    if soft:
      pred = pred.astype(jnp.float32)
      unit = pred * jax.lax.rsqrt(jnp.sum(pred * pred, axis=-1, keepdims=True) + _LOSS_EPS**2)
    else:
      unit = self.predict(pred)
    cos = jnp.sum(unit * gt, axis=-1)
    return jnp.where(valid, cos, 0.0), valid

  def loss_terms(self, pred: jax.Array, batch: Batch) -> tuple[jax.Array, jax.Array]:
    """(sum of ``1 - <n, n*>`` over valid pixels: float32 [], valid pixels: int32 [])."""
    cos, valid = self._terms(pred, batch, soft=True)
    return jnp.where(valid, 1.0 - cos, 0.0).sum(), valid.sum(dtype=jnp.int32)

  def predict(self, pred: jax.Array) -> jax.Array:
    """Unit normals ``float32 [B, H, W, 3]`` (zero where the prediction is ~0).

    Below ``_MIN_NORM`` the direction is undefined and the result is zero.
    """
    pred = pred.astype(jnp.float32)
    norm = optax.safe_norm(pred, _MIN_NORM, axis=-1, keepdims=True)
    defined = norm > _MIN_NORM
    return jnp.where(defined, pred / jnp.where(defined, norm, 1.0), 0.0)

  def metric_init(self) -> dict[str, jax.Array]:
    """Zero angle sum (float32), count, threshold counts and histogram (int32)."""
    return {"angle_sum": jnp.zeros((), jnp.float32), "count": jnp.zeros((), jnp.int32),
            "within": jnp.zeros(len(THRESHOLDS), jnp.int32),
            "histogram": jnp.zeros(self.num_bins, jnp.int32)}

  def metric_update(self, acc: Any, pred: jax.Array, batch: Batch) -> dict[str, jax.Array]:
    """Adds the batch's angle errors to the accumulators."""
    cos, valid = self._terms(pred, batch)
    angle = jnp.degrees(jnp.arccos(jnp.clip(cos, -1.0, 1.0)))
    within = jnp.stack([(valid & (angle < t)).sum(dtype=jnp.int32) for t in THRESHOLDS])
    return {"angle_sum": acc["angle_sum"] + jnp.where(valid, angle, 0.0).sum(),
            "count": acc["count"] + valid.sum(dtype=jnp.int32),
            "within": acc["within"] + within,
            "histogram": acc["histogram"] + metrics.histogram(
                angle, self.bin_width_degrees, self.num_bins, valid)}

  def metric_result(self, acc: Any) -> dict[str, jax.Array]:
    """``mean_angle``, ``median_angle`` (degrees), ``within_*`` (percent)."""
    result = {"mean_angle": metrics.safe_ratio(acc["angle_sum"], acc["count"]),
              "median_angle": metrics.histogram_median(acc["histogram"],
                                                       self.bin_width_degrees)}
    for i, t in enumerate(THRESHOLDS):
      result[_within_key(t)] = 100.0 * metrics.safe_ratio(acc["within"][i], acc["count"])
    return result
