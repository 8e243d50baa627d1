"""Jittable metric accumulators and the multi-task score Δm.

The accumulators are integer counts (confusion matrices, histograms) or sums,
so that those of several batches or devices combine by plain addition
(``jax.lax.psum``) and the metric of a whole evaluation set is computed once,
at the end, from its accumulators -- never as a mean of per-batch metrics.

Imports jax and jax.numpy only.
"""

from typing import Any, Mapping, Optional

import jax
import jax.numpy as jnp


def confusion_matrix(labels: jax.Array, preds: jax.Array, num_classes: int,
                     valid: Optional[jax.Array] = None) -> jax.Array:
  """Counts of (ground truth, prediction) pairs, ``int32 [C, C]``.

  ``cm[i, j]`` is the number of pixels whose label is ``i`` and prediction
  ``j``, over the pixels where ``valid`` is True and both ids lie in
  ``[0, C)``; other pixels are not counted.

  Args:
    labels: int ground-truth class ids, any shape ``[...]``.
    preds: int predicted class ids, same shape.
    num_classes: C.
    valid: optional bool mask, same shape.

  Returns:
    ``int32 [C, C]``, rows ground truth, columns prediction.

  >>> cm = confusion_matrix(jnp.array([0, 1, 1, -1]), jnp.array([0, 0, 1, 1]), 2)
  >>> cm.tolist()
  [[1, 0], [1, 1]]
  """
  labels = jnp.asarray(labels).astype(jnp.int32)
  preds = jnp.asarray(preds).astype(jnp.int32)
  ok = (labels >= 0) & (labels < num_classes) & (preds >= 0) & (preds < num_classes)
  if valid is not None:
    ok = ok & valid
  index = jnp.where(ok, labels * num_classes + preds, 0).reshape(-1)
  counts = jnp.zeros(num_classes * num_classes, jnp.int32).at[index].add(
      ok.reshape(-1).astype(jnp.int32))
  return counts.reshape(num_classes, num_classes)


def mean_iou(cm: jax.Array) -> jax.Array:
  """Mean intersection over union of a confusion matrix, a fraction in [0, 1].

  ``IoU_c = TP_c / (TP_c + FP_c + FN_c)``, averaged over the classes whose
  union ``TP_c + FP_c + FN_c`` is positive (classes absent from both ground
  truth and prediction are left out, as ``nanmean`` does). NaN if no class
  has a positive union.

  Args:
    cm: ``[C, C]`` counts, rows ground truth, columns prediction.

  Returns:
    float32 scalar.

  >>> cm = jnp.array([[3, 1, 0], [0, 2, 0], [0, 0, 0]])
  >>> round(float(mean_iou(cm)), 4)  # (3/4 + 2/3) / 2; class 2 left out
  0.7083
  """
  cm = jnp.asarray(cm).astype(jnp.float32)
  tp = jnp.diagonal(cm)
  union = cm.sum(axis=0) + cm.sum(axis=1) - tp
  present = union > 0
  iou = jnp.where(present, tp / jnp.where(present, union, 1.0), 0.0)
  return iou.sum() / present.sum()


def class_iou(cm: jax.Array) -> jax.Array:
  """Each class's intersection over union, fractions ``[C]``; NaN where the union is empty.

  >>> [round(float(x), 4) for x in class_iou(jnp.array([[3, 1, 0], [0, 2, 0], [0, 0, 0]]))]
  [0.75, 0.6667, nan]
  """
  cm = jnp.asarray(cm).astype(jnp.float32)
  tp = jnp.diagonal(cm)
  union = cm.sum(axis=0) + cm.sum(axis=1) - tp
  return jnp.where(union > 0, tp / jnp.where(union > 0, union, 1.0), jnp.nan)


def pixel_accuracy(cm: jax.Array) -> jax.Array:
  """Fraction of counted pixels predicted correctly: ``trace(cm) / sum(cm)``.

  NaN if ``cm`` is all zeros.

  >>> round(float(pixel_accuracy(jnp.array([[3, 1], [0, 2]]))), 4)
  0.8333
  """
  cm = jnp.asarray(cm)
  return jnp.trace(cm).astype(jnp.float32) / cm.sum().astype(jnp.float32)


def histogram(values: jax.Array, bin_width: float, num_bins: int,
              valid: Optional[jax.Array] = None) -> jax.Array:
  """Counts of values in bins ``[k w, (k + 1) w)``, ``int32 [num_bins]``.

  Values below 0 go into the first bin, values at or above ``num_bins * w``
  into the last; values where ``valid`` is False (and NaNs) are not counted.

  Args:
    values: float array, any shape.
    bin_width: w > 0.
    num_bins: number of bins.
    valid: optional bool mask, same shape as ``values``.

  >>> histogram(jnp.array([0.1, 0.5, 1.2, 9.0]), 0.5, 3).tolist()
  [1, 1, 2]
  """
  values = jnp.asarray(values)
  ok = ~jnp.isnan(values)
  if valid is not None:
    ok = ok & valid
  safe = jnp.where(ok, values, 0.0)
  index = jnp.clip(jnp.floor(safe / bin_width), 0, num_bins - 1).astype(jnp.int32)
  return jnp.zeros(num_bins, jnp.int32).at[index.reshape(-1)].add(
      ok.reshape(-1).astype(jnp.int32))


def _order_statistic(counts: jax.Array, cumulative: jax.Array, rank: jax.Array,
                     bin_width: float) -> jax.Array:
  """The ``rank``-th smallest value (1-based), its bin's values spread evenly."""
  k = jnp.argmax(cumulative >= rank)
  position = (rank - (cumulative[k] - counts[k])).astype(jnp.float32) - 0.5
  fraction = position / jnp.maximum(counts[k], 1).astype(jnp.float32)
  return (k.astype(jnp.float32) + fraction) * bin_width


def histogram_median(counts: jax.Array, bin_width: float) -> jax.Array:
  """Median of the values counted in a histogram with bins ``[k w, (k + 1) w)``.

  The ``r``-th smallest value is placed in the bin ``k`` where the cumulative
  count first reaches ``r``, at ``(k + (r - below - 1/2) / counts[k]) * w``
  (``below``: the count of the bins before ``k``), i.e. the ``counts[k]``
  values of a bin are spread evenly over it. The median is that of order
  statistic ``(N + 1) / 2`` for odd ``N``, the mean of statistics ``N / 2``
  and ``N / 2 + 1`` for even ``N`` (as ``np.median``), so it lies within one
  bin width of the exact median of the values. NaN if the histogram is empty.
  Ranks are compared in integers: counts up to 2**31 - 1 are exact.

  Args:
    counts: int ``[K]`` bin counts (e.g. from ``histogram``).
    bin_width: w.

  Returns:
    float32 scalar.

  >>> float(histogram_median(jnp.array([1, 3, 1]), 1.0))  # 3rd of 5: mid-bin 1
  1.5
  >>> float(histogram_median(jnp.array([1, 0, 0, 1]), 1.0))  # (0.5 + 3.5) / 2
  2.0
  """
  counts = jnp.asarray(counts).astype(jnp.int32)
  total = counts.sum()
  cumulative = jnp.cumsum(counts)
  low = _order_statistic(counts, cumulative, total - total // 2, bin_width)
  high = _order_statistic(counts, cumulative, total // 2 + 1, bin_width)
  return jnp.where(total > 0, 0.5 * (low + high), jnp.nan)


def safe_ratio(numerator: jax.Array, denominator: jax.Array) -> jax.Array:
  """``numerator / denominator`` in float32, NaN where the denominator is 0.

  >>> float(safe_ratio(jnp.float32(3.0), jnp.int32(4)))
  0.75
  """
  numerator = jnp.asarray(numerator).astype(jnp.float32)
  denominator = jnp.asarray(denominator).astype(jnp.float32)
  nonzero = denominator != 0
  return jnp.where(nonzero, numerator / jnp.where(nonzero, denominator, 1.0), jnp.nan)


def flatten(per_task: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
  """``{task: {metric: x}}`` -> ``{"task/metric": x}``.

  >>> flatten({"depth": {"abs_err": 0.5}, "segmentation": {"miou": 40.0}})
  {'depth/abs_err': 0.5, 'segmentation/miou': 40.0}
  """
  return {f"{task}/{metric}": value
          for task, metrics in per_task.items() for metric, value in metrics.items()}


def delta_m(results: Mapping[str, Any], baselines: Mapping[str, Any],
            higher_is_better: Mapping[str, bool]) -> Any:
  """Δm, the mean relative improvement over a baseline, in percent.

  ``Δm = 100 / K * sum_k (-1)**l_k * (M_k - B_k) / B_k`` over the K keys of
  ``baselines``, with ``l_k = 1`` when lower is better for metric k (Maninis
  et al., "Attentive Single-Tasking of Multiple Tasks", CVPR 2019). Positive
  means better than the baseline. Nash-MTL and FAMO tables report the same
  quantity with the opposite sign (``Δm%``, lower is better): negate this.

  Args:
    results: flat metrics ``{"task/metric": M_k}`` of the method (may hold
      more keys than ``baselines``; extra keys are ignored).
    baselines: flat metrics ``{"task/metric": B_k}`` of the baseline (e.g.
      single-task networks); its keys are the ones averaged over.
    higher_is_better: ``{"task/metric": bool}`` for every key of ``baselines``
      (``flatten({t.name: t.higher_is_better for t in tasks})``).

  Returns:
    Δm in percent (a Python float for float inputs; jittable for arrays).

  Raises:
    KeyError: naming a key of ``baselines`` missing from ``results`` or
      ``higher_is_better``.
    ValueError: if ``baselines`` is empty.

  >>> d = delta_m({"seg/miou": 44.0, "depth/abs_err": 0.45},
  ...             {"seg/miou": 40.0, "depth/abs_err": 0.50},
  ...             {"seg/miou": True, "depth/abs_err": False})
  >>> round(d, 6)  # (+10% + 10%) / 2
  10.0
  """
  if not baselines:
    raise ValueError("delta_m: baselines is empty.")
  terms = []
  for key, base in baselines.items():
    if key not in results:
      raise KeyError(f"delta_m: metric {key!r} of the baseline is missing from results;"
                     f" results has {sorted(results)}")
    if key not in higher_is_better:
      raise KeyError(f"delta_m: metric {key!r} is missing from higher_is_better;"
                     f" it has {sorted(higher_is_better)}")
    sign = 1.0 if higher_is_better[key] else -1.0
    terms.append(sign * (results[key] - base) / base)
  return 100.0 * sum(terms) / len(terms)
