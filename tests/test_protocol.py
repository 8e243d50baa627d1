"""The reporting protocol: Δm per evaluation, the mean of the last 10, and resuming."""

import json
import math

import numpy as np
import pytest

from mtl_jax import protocol
from mtl_jax import summary

BASE = {"segmentation/miou": 38.30, "depth/abs_err": 0.6754, "normals/within_30": 69.15}
HIGHER = {"segmentation/miou": True, "depth/abs_err": False, "normals/within_30": True,
          "normals/mean_angle": False}


def test_delta_m_by_hand():
  results = {"segmentation/miou": 40.0, "depth/abs_err": 0.5, "normals/within_30": 60.0,
             "normals/mean_angle": 30.0}
  got = protocol.with_delta_m(results, BASE, HIGHER)
  # (+(40 - 38.3) / 38.3 - (0.5 - 0.6754) / 0.6754 + (60 - 69.15) / 69.15) / 3, in percent.
  want = 100 * (1.7 / 38.3 + 0.1754 / 0.6754 - 9.15 / 69.15) / 3
  assert got["delta_m"] == pytest.approx(want, rel=1e-12)
  assert {k: v for k, v in got.items() if k != "delta_m"} == results
  assert protocol.with_delta_m(results, {}, HIGHER) == results


def test_delta_m_of_a_published_row_matches_the_table():
  # Nash-MTL's NYUv2 row (Navon et al. 2022, Table 2) prints Δm% = -4.04 (lower is better)
  # against the STL row; mtl_jax's delta_m is its negative (positive is better).
  stl = [38.30, 63.76, 0.6754, 0.2780, 25.01, 19.21, 30.14, 57.20, 69.15]
  nash = [40.13, 65.93, 0.5261, 0.2171, 25.26, 20.08, 28.40, 55.47, 68.15]
  keys = ["s/miou", "s/acc", "d/abs", "d/rel", "n/mean", "n/median", "n/11", "n/22", "n/30"]
  higher = dict(zip(keys, [True, True, False, False, False, False, True, True, True]))
  got = protocol.with_delta_m(dict(zip(keys, nash)), dict(zip(keys, stl)), higher)
  assert got["delta_m"] == pytest.approx(4.04, abs=0.015)


def test_delta_m_of_a_non_finite_metric_is_none():
  results = {"segmentation/miou": float("nan"), "depth/abs_err": 0.5, "normals/within_30": 60.0}
  assert protocol.with_delta_m(results, BASE, HIGHER)["delta_m"] is None


def _rows(steps, value):
  return [{"step": s, "segmentation/miou": value(s), "depth/abs_err": 1.0 / (1 + s),
           "normals/within_30": 50.0} for s in steps]


def test_mean_of_the_last_10_after_step_0():
  rows = _rows(range(0, 130, 10), lambda s: (s / 10) ** 2)  # Steps 0, 10, ..., 120.
  mean = protocol.mean_of_last(rows, 10)
  assert mean["steps"] == list(range(30, 130, 10))
  # (3^2 + ... + 12^2) / 10 = (650 - 1 - 4) / 10.
  assert mean["segmentation/miou"] == pytest.approx(64.5, rel=1e-12)
  assert mean["depth/abs_err"] == pytest.approx(np.mean([1 / (1 + s) for s in range(30, 130, 10)]))
  assert protocol.mean_of_last(rows[:3], 10)["steps"] == [10, 20]  # Fewer than 10: all.
  assert protocol.mean_of_last(rows[:1], 10) == {}  # Only the untrained network.
  rows[5]["segmentation/miou"] = None  # Step 50 was not finite: the mean is unknown.
  assert protocol.mean_of_last(rows, 10)["segmentation/miou"] is None
  assert protocol.mean_of_last(rows, 7)["segmentation/miou"] == pytest.approx(
      np.mean([(s / 10) ** 2 for s in range(60, 130, 10)]))


def test_summary_recomputes_delta_m_of_last_and_mean():
  rows = _rows(range(10, 130, 10), lambda s: 30.0 + s / 10)
  got = protocol.summarize(rows, 10, BASE, HIGHER)
  assert got["last"]["step"] == 120 and got["window"] == 10
  mean_miou = np.mean([30.0 + s / 10 for s in range(30, 130, 10)])
  assert got["mean"]["segmentation/miou"] == pytest.approx(mean_miou)
  want = 100 * ((mean_miou - 38.3) / 38.3 - (got["mean"]["depth/abs_err"] - 0.6754) / 0.6754
                + (50 - 69.15) / 69.15) / 3
  assert got["mean"]["delta_m"] == pytest.approx(want, rel=1e-12)
  # Δm is linear in the metrics: the mean's Δm is the mean of the evaluations' Δm.
  per_row = [protocol.with_delta_m(r, BASE, HIGHER)["delta_m"] for r in rows[-10:]]
  assert got["mean"]["delta_m"] == pytest.approx(np.mean(per_row), rel=1e-12)
  assert got["single_task_baselines"] == BASE


def _record(report, rows):
  for row in rows:
    report.record(row["step"], {k: v for k, v in row.items() if k != "step"})


def _read(path):
  with open(path) as f:
    return json.load(f)


def test_final_json_survives_resuming(tmp_path):
  rows = _rows(range(0, 130, 10), lambda s: 30.0 + s / 10)
  full, resumed = tmp_path / "full", tmp_path / "resumed"
  for workdir in (full, resumed):
    writer = summary.MetricWriter(str(workdir))
    report = protocol.Report(writer, BASE, HIGHER, 10, "published")
    _record(report, rows if workdir == full else rows[:10])  # Up to step 90.
    writer.close()
  # A restart from the step-50 checkpoint drops evaluations 60-90, then redoes them.
  writer = summary.MetricWriter(str(resumed))
  report = protocol.Report(writer, BASE, HIGHER, 10, "published")
  writer.truncate_after(50)
  report.refresh()
  assert _read(resumed / "final.json")["mean"]["steps"] == [10, 20, 30, 40, 50]
  _record(report, rows[6:])
  writer.close()
  final = _read(full / "final.json")
  assert _read(resumed / "final.json") == final
  assert final["baselines_from"] == "published"
  assert final == {**protocol.summarize(rows, 10, BASE, HIGHER), "baselines_from": "published"}
  # Back to before any training: nothing to summarise, no stale file.
  writer.truncate_after(0)
  report.refresh()
  assert not (resumed / "final.json").exists()


def test_a_non_finite_evaluation_is_recorded_as_null(tmp_path):
  writer = summary.MetricWriter(str(tmp_path))
  report = protocol.Report(writer, BASE, HIGHER)
  got = report.record(5, {"segmentation/miou": float("nan"), "depth/abs_err": 0.5,
                          "normals/within_30": 60.0})
  writer.close()
  assert math.isnan(got["delta_m"])
  with open(tmp_path / "metrics.jsonl") as f:
    row = json.loads(f.read())
  assert row["delta_m"] is None and row["segmentation/miou"] is None
  final = _read(tmp_path / "final.json")
  assert final["mean"]["delta_m"] is None and final["last"]["depth/abs_err"] == 0.5
