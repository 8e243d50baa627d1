"""The field's reporting protocol: Δm at every evaluation, the mean of the last evaluations.

MTAN, CAGrad, Nash-MTL and FAMO evaluate on the whole val split after every
epoch and report each metric averaged over the last 10 evaluations, with Δm
(Maninis et al. 2019) against single-task results. ``Report`` does that for
``train_and_evaluate``:

* every evaluation row of ``metrics.jsonl`` gets ``delta_m`` (when there are
  baselines, see ``mtl_jax.baselines``): percent, positive = better than the
  baselines, as ``mtl_jax.metrics.delta_m`` (the Nash-MTL and FAMO tables
  print its negative, "Δm%, lower is better");
* after every evaluation ``final.json`` is rewritten next to it::

    {"last": {"step": 79600, "segmentation/miou": ..., "delta_m": ...},
     "mean": {"steps": [75820, ..., 79600], "segmentation/miou": ..., "delta_m": ...},
     "window": 10, "single_task_baselines": {...}, "baselines_from": "published"}

  ``mean`` averages each metric over the last ``window`` evaluations after
  step 0 (the untrained network is left out; fewer if fewer exist, as
  ``steps`` shows); a metric that was not finite in one of them is null.
  Δm is linear in the metrics, so ``mean.delta_m`` (Δm of the mean metrics)
  is also the mean of the evaluations' Δm.

``final.json`` is computed from ``metrics.jsonl`` alone, which a resumed run
truncates to its checkpoint's step and then extends exactly as the
uninterrupted run did; so the summary survives resuming.
"""

import json
import math
import os
from typing import Any, Mapping, Optional, Sequence

from mtl_jax import metrics

DELTA_M = "delta_m"
PER_BATCH = "@per_batch"  # The suffix of the field's per-batch protocol (mtl_jax.evaluate).
SUMMARY_FILE = "final.json"


def _delta_m(values: Mapping[str, Any], baselines: Mapping[str, float],
             higher_is_better: Mapping[str, bool]) -> Optional[float]:
  needed = [values.get(key) for key in baselines]
  if any(v is None or not math.isfinite(v) for v in needed):
    return None
  return float(metrics.delta_m(values, baselines, higher_is_better))


def with_delta_m(results: Mapping[str, Any], baselines: Mapping[str, float],
                 higher_is_better: Mapping[str, bool]) -> dict[str, Any]:
  """``results`` plus ``delta_m`` (None if a metric it needs is missing or not finite).

  When the results hold the per-batch protocol's ``<task>/<metric>@per_batch``
  keys, ``delta_m@per_batch`` is Δm of those (the other metrics, segmentation's,
  as they are): the number to compare with a published row. Without baselines,
  ``results`` unchanged.

  >>> r = with_delta_m({"s/miou": 44.0, "d/err": 0.45, "d/err@per_batch": 0.4},
  ...                  {"s/miou": 40.0, "d/err": 0.5}, {"s/miou": True, "d/err": False})
  >>> round(r["delta_m"], 6), round(r["delta_m@per_batch"], 6)
  (10.0, 15.0)
  """
  drop = (DELTA_M, DELTA_M + PER_BATCH)
  out = {k: v for k, v in results.items() if k not in drop}
  if not baselines:
    return out
  out[DELTA_M] = _delta_m(out, baselines, higher_is_better)
  if any(k.endswith(PER_BATCH) for k in out):
    per_batch = {k: out.get(k + PER_BATCH, out.get(k)) for k in baselines}
    out[DELTA_M + PER_BATCH] = _delta_m(per_batch, baselines, higher_is_better)
  return out


def mean_of_last(rows: Sequence[Mapping[str, Any]], window: int) -> dict[str, Any]:
  """Each metric's mean over the last ``window`` rows with ``step > 0``.

  Rows are ``metrics.jsonl`` objects (``step`` and metrics; None = not finite).
  The result has ``steps`` (the rows averaged) and every metric key of those
  rows: the mean, or None if a row lacks it or has None. {} without such rows.

  >>> mean_of_last([{"step": 0, "a": 9.0}, {"step": 5, "a": 1.0}, {"step": 10, "a": 2.0},
  ...               {"step": 15, "a": 4.0}], window=2)
  {'steps': [10, 15], 'a': 3.0}
  """
  rows = [r for r in rows if r["step"] > 0][-window:]
  if not rows:
    return {}
  keys = [k for k in rows[-1] if k != "step"]
  out = {"steps": [int(r["step"]) for r in rows]}
  for key in keys:
    values = [r.get(key) for r in rows]
    out[key] = None if any(v is None for v in values) else math.fsum(values) / len(values)
  return out


def summarize(rows: Sequence[Mapping[str, Any]], window: int, baselines: Mapping[str, float],
              higher_is_better: Mapping[str, bool]) -> Optional[dict[str, Any]]:
  """The ``final.json`` object for evaluation ``rows`` (None before any after step 0).

  Δm is recomputed from the last and the mean metrics with ``baselines``.
  """
  mean = mean_of_last(rows, window)
  if not mean:
    return None
  last = dict(rows[-1])
  return {"last": with_delta_m(last, baselines, higher_is_better),
          "mean": {"steps": mean.pop("steps"), **with_delta_m(mean, baselines, higher_is_better)},
          "window": int(window), "single_task_baselines": dict(baselines)}


class Report:
  """Adds Δm to each evaluation, writes it, and keeps ``final.json`` current.

  Args:
    writer: the run's ``summary.MetricWriter`` (``final.json`` goes next to
      its ``metrics.jsonl``).
    baselines: ``{"task/metric": value}`` (``baselines.resolve``); may be {}.
    higher_is_better: ``{"task/metric": bool}`` of the evaluated metrics.
    window: how many of the last evaluations ``mean`` averages.
    baselines_from: where the baselines came from (recorded in the summary).
  """

  def __init__(self, writer, baselines: Mapping[str, float],
               higher_is_better: Mapping[str, bool], window: int = 10,
               baselines_from: str = ""):
    self._writer = writer
    self.baselines = dict(baselines)
    self._higher_is_better = dict(higher_is_better)
    self._window = window
    self._baselines_from = baselines_from
    self.path = os.path.join(os.path.dirname(writer.jsonl_path), SUMMARY_FILE)

  def record(self, step: int, results: Mapping[str, float]) -> dict[str, Any]:
    """Writes evaluation ``results`` of ``step`` with Δm; returns them with Δm (NaN if
    a metric it needs is not finite)."""
    results = with_delta_m(results, self.baselines, self._higher_is_better)
    for key in (DELTA_M, DELTA_M + PER_BATCH):
      if key in results and results[key] is None:
        results[key] = math.nan  # As the other metrics: NaN here, null in metrics.jsonl.
    self._writer.evaluation(step, results)
    self.refresh()
    return results

  def refresh(self) -> Optional[dict[str, Any]]:
    """Rewrites ``final.json`` from ``metrics.jsonl`` (removes it if it has nothing to say)."""
    rows = self._writer.rows()
    summary = summarize(rows, self._window, self.baselines, self._higher_is_better)
    if summary is None:
      if self._writer.primary and os.path.exists(self.path):
        os.remove(self.path)
      return None
    summary["baselines_from"] = self._baselines_from
    if not self._writer.primary:
      return summary  # The primary process writes final.json.
    tmp = self.path + ".tmp"
    try:
      with open(tmp, "w") as f:
        json.dump(summary, f, indent=1, allow_nan=False)
      os.replace(tmp, self.path)
    except OSError as e:
      raise OSError(e.errno, e.strerror, self.path) from e  # Named, even when closing failed.
    finally:
      if os.path.exists(tmp):  # Not replaced: the write failed (a full disk, say).
        os.remove(tmp)
    return summary
