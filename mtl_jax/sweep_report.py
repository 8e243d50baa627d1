"""A finished sweep as a table and plots: ``write(sweep_dir)`` (``mtl_jax.sweep --report``).

From each run's ``final.json`` (its ``"mean"``: every metric averaged over the
last ``config.eval.summary_window`` evaluations) and ``train.jsonl``:

* ``summary.md``: one row per method, every metric of the trained tasks as
  mean ± std over seeds (sample std, ``ddof=1``; 0 for one seed), Δm against
  the single-task baselines, the best mean of each column in bold (by the
  metric's direction), the single-task row itself first;
* ``summary.csv``: the same numbers, one column per mean and one per std;
* ``delta_m.png``: Δm per method with ±1 std error bars;
* ``relative.png``: each metric relative to single-task, in percent, signed so
  that positive is better;
* ``weights.png``: each method's task weights over training (mean over seeds
  of ``train.jsonl``'s ``weight/<task>``);
* ``tradeoff.png``: for each pair of tasks, each method's per-task Δ (Δm over
  that task's metrics alone) against the other's.

Runs that have not finished are left out, and named in ``summary.md``.
"""

import csv
import json
import math
import os
from typing import Any, Optional, Sequence

import numpy as np

from mtl_jax import metrics
from mtl_jax import sweep
from mtl_jax import tasks as tasks_lib
from mtl_jax.summary import TRAIN_FILE, read_jsonl

SUMMARY_MD, SUMMARY_CSV = "summary.md", "summary.csv"
PLOTS = ("delta_m.png", "relative.png", "weights.png", "tradeoff.png")
DELTA_M = "delta_m"


def _json(path: str) -> Optional[dict]:
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


def directions(task_names: Sequence[str]) -> dict[str, bool]:
  """``{"task/metric": higher is better}`` of every metric of the tasks, in their order.

  >>> directions(["depth"])
  {'depth/abs_err': False, 'depth/rel_err': False}
  """
  return metrics.flatten({t: tasks_lib.REGISTRY[t].higher_is_better for t in task_names})


def mean_std(values: Sequence[float]) -> tuple[float, float]:
  """Mean and sample standard deviation (0 for one value); NaN for none.

  >>> mean_std([1.0, 3.0])
  (2.0, 1.4142135623730951)
  """
  values = [v for v in values if v is not None and math.isfinite(v)]
  if not values:
    return float("nan"), float("nan")
  std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
  return float(np.mean(values)), std


class Sweep:
  """The finished runs of a sweep directory, grouped by method."""

  def __init__(self, sweep_dir: str):
    record = sweep.read_plan(sweep_dir)
    self.dir = sweep_dir
    self.mode = record["baselines"]
    self.runs = record["runs"]
    self.labels = list(dict.fromkeys(r.label for r in self.runs))
    self.finals = {r.workdir: _json(os.path.join(r.workdir, "final.json"))
                   for r in self.runs if sweep.finished(r.workdir)}
    self.missing = [r for r in self.runs if r.workdir not in self.finals]
    if not self.finals:
      raise sweep.SweepError(f"{sweep_dir}: no run has finished yet")
    some = next(iter(self.finals))
    config = _json(os.path.join(some, "config.json")) or {}
    self.task_names = list(config.get("tasks", {}).get("names", []))
    self.higher_is_better = directions(self.task_names)
    self.baselines = self._baselines()

  def _baselines(self) -> dict[str, float]:
    if self.mode == "none":
      return {}
    if self.mode == "config":
      for final in self.finals.values():
        if final.get("single_task_baselines"):
          return dict(final["single_task_baselines"])
      return {}
    runs = [r for r in self.runs if r.label == sweep.SINGLE_TASK and r.workdir in self.finals]
    values = {}
    for key in self.higher_is_better:
      mean, _ = mean_std([self.finals[r.workdir]["mean"].get(key) for r in runs])
      if math.isfinite(mean) and mean != 0:
        values[key] = mean
    return values

  def values(self, label: str, key: str) -> list[float]:
    """Each finished seed's value of ``key`` (a metric, ``delta_m``, ``delta_m/<task>``)."""
    out = []
    for run in self.runs:
      if run.label != label or run.workdir not in self.finals:
        continue
      mean = self.finals[run.workdir]["mean"]
      if key == DELTA_M or key.startswith(DELTA_M + "/"):
        out.append(self._delta(mean, key.partition("/")[2] or None))
      else:
        out.append(mean.get(key))
    return [v for v in out if v is not None]

  def _delta(self, mean: dict, task: Optional[str]) -> Optional[float]:
    base = {k: v for k, v in self.baselines.items()
            if task is None or k.split("/", 1)[0] == task}
    if not base or any(mean.get(k) is None for k in base):
      return None
    return float(metrics.delta_m(mean, base, self.higher_is_better))

  def relative(self, label: str, key: str) -> float:
    """The metric relative to single-task in percent, positive = better (NaN without)."""
    if key not in self.baselines:
      return float("nan")
    mean, _ = mean_std(self.values(label, key))
    sign = 1.0 if self.higher_is_better[key] else -1.0
    return sign * 100.0 * (mean - self.baselines[key]) / self.baselines[key]

  def weights(self, label: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Steps and each task's mean weight over seeds from ``train.jsonl`` (shortest seed)."""
    rows = [read_jsonl(os.path.join(r.workdir, TRAIN_FILE)) for r in self.runs
            if r.label == label and r.workdir in self.finals]
    rows = [r for r in rows if r]
    if not rows:
      return np.zeros(0), {}
    n = min(len(r) for r in rows)
    steps = np.array([row["step"] for row in rows[0][:n]])
    curves = {}
    for task in self.task_names:
      key = f"weight/{task}"
      if all(key in row and row[key] is not None for r in rows for row in r[:n]):
        curves[task] = np.mean([[row[key] for row in r[:n]] for r in rows], axis=0)
    return steps, curves


def _cell(mean: float, std: float) -> str:
  if not math.isfinite(mean):
    return "–"
  digits = 2 if abs(mean) >= 1 else 4
  return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _columns(s: Sweep) -> list[str]:
  return ([DELTA_M] if s.baselines else []) + list(s.higher_is_better)


def _best(s: Sweep, labels: Sequence[str], key: str) -> Optional[str]:
  means = {label: mean_std(s.values(label, key))[0] for label in labels}
  means = {k: v for k, v in means.items() if math.isfinite(v)}
  if not means:
    return None
  higher = key == DELTA_M or s.higher_is_better.get(key, True)
  return (max if higher else min)(means, key=means.get)


def _header(key: str, s: Sweep) -> str:
  if key == DELTA_M:
    return "Δm% ↑"
  return f"{key} {'↑' if s.higher_is_better[key] else '↓'}"


def write_tables(s: Sweep) -> list[str]:
  """``summary.md`` and ``summary.csv``; returns their paths."""
  labels = [label for label in s.labels if label != sweep.SINGLE_TASK]
  columns = _columns(s)
  best = {key: _best(s, labels, key) for key in columns}
  lines = [f"# Sweep {os.path.abspath(s.dir)}", "",
           "Mean ± std over seeds of each run's final.json mean (the last evaluations);"
           f" Δm against single-task results ({s.mode}); best of each column in bold.", "",
           "| method | seeds | " + " | ".join(_header(k, s) for k in columns) + " |",
           "|---|---:|" + "---:|" * len(columns)]
  if s.baselines:
    seeds = len(s.values(sweep.SINGLE_TASK, next(iter(s.baselines)))) if s.mode == "train" else "–"
    lines.append(f"| single-task | {seeds} | " + " | ".join(
        "0" if k == DELTA_M else _cell(s.baselines[k], 0.0).split(" ± ")[0]
        if k in s.baselines else "–" for k in columns) + " |")
  rows = []
  for label in labels:
    cells, row = [], {"method": label}
    for key in columns:
      mean, std = mean_std(s.values(label, key))
      row[key], row[f"{key}_std"] = mean, std
      cell = _cell(mean, std)
      cells.append(f"**{cell}**" if best[key] == label and math.isfinite(mean) else cell)
    row["seeds"] = len(s.values(label, columns[-1]))
    rows.append(row)
    lines.append(f"| {label} | {row['seeds']} | " + " | ".join(cells) + " |")
  if s.missing:
    lines += ["", "Not finished (left out): " + ", ".join(
        f"{r.label} seed {r.seed}" for r in s.missing) + "."]
  md = os.path.join(s.dir, SUMMARY_MD)
  with open(md, "w") as f:
    f.write("\n".join(lines) + "\n")
  path = os.path.join(s.dir, SUMMARY_CSV)
  with open(path, "w", newline="") as f:
    fields = ["method", "seeds"] + [x for k in columns for x in (k, f"{k}_std")]
    out = csv.DictWriter(f, fieldnames=fields)
    out.writeheader()
    if s.baselines:
      out.writerow({"method": "single_task", **{k: s.baselines.get(k, "") for k in columns
                                                 if k != DELTA_M}, DELTA_M: 0.0})
    for row in rows:
      out.writerow({k: row.get(k, "") for k in fields})
  return [md, path]


def _pyplot():
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def _colour(label: str) -> str:
  return "tab:blue" if label.endswith("-params") else (
      "tab:orange" if label.endswith("-features") else "tab:grey")


def plot_delta_m(s: Sweep, path: str) -> None:
  plt = _pyplot()
  labels = [label for label in s.labels if label != sweep.SINGLE_TASK]
  stats = sorted(((label, *mean_std(s.values(label, DELTA_M))) for label in labels),
                 key=lambda x: -x[1] if math.isfinite(x[1]) else math.inf)
  fig, ax = plt.subplots(figsize=(7, 0.32 * len(stats) + 1.4))
  ys = np.arange(len(stats))
  ax.barh(ys, [m for _, m, _ in stats], xerr=[e for _, _, e in stats],
          color=[_colour(label) for label, _, _ in stats], capsize=2)
  ax.set_yticks(ys, [label for label, _, _ in stats], fontsize=8)
  ax.invert_yaxis()
  ax.axvline(0.0, color="black", linewidth=0.8)
  ax.set_xlabel("Δm % against single-task (higher is better); bars ±1 std over seeds")
  ax.set_title("params level: blue, features: orange, loss level: grey", fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def plot_relative(s: Sweep, path: str) -> None:
  plt = _pyplot()
  labels = [label for label in s.labels if label != sweep.SINGLE_TASK]
  keys = [k for k in s.higher_is_better if k in s.baselines]
  grid = np.array([[s.relative(label, k) for k in keys] for label in labels])
  limit = float(np.nanmax(np.abs(grid))) if np.isfinite(grid).any() else 1.0
  fig, ax = plt.subplots(figsize=(1.0 * len(keys) + 2.5, 0.32 * len(labels) + 1.8))
  image = ax.imshow(grid, cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
  for (i, j), value in np.ndenumerate(grid):
    if math.isfinite(value):
      ax.text(j, i, f"{value:+.1f}", ha="center", va="center", fontsize=6)
  ax.set_xticks(range(len(keys)), keys, rotation=45, ha="right", fontsize=7)
  ax.set_yticks(range(len(labels)), labels, fontsize=7)
  fig.colorbar(image, ax=ax, label="% better than single-task")
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def plot_weights(s: Sweep, path: str) -> None:
  plt = _pyplot()
  labels = [label for label in s.labels if label != sweep.SINGLE_TASK]
  columns = min(6, len(labels))
  rows = -(-len(labels) // columns)
  fig, axes = plt.subplots(rows, columns, figsize=(2.4 * columns, 1.9 * rows + 0.5),
                           squeeze=False, sharex=True)
  for ax, label in zip(axes.flat, labels):
    steps, curves = s.weights(label)
    for task, curve in curves.items():
      ax.plot(steps, curve, label=task, linewidth=1)
    ax.set_title(label, fontsize=8)
    ax.tick_params(labelsize=6)
  for ax in list(axes.flat)[len(labels):]:
    ax.axis("off")
  handles, names = axes.flat[0].get_legend_handles_labels()
  if handles:
    fig.legend(handles, names, loc="lower center", ncol=len(names), fontsize=8, frameon=False)
  fig.suptitle("task weights over training (mean over seeds)", fontsize=10)
  fig.tight_layout(rect=(0, 0.05, 1, 0.96))
  fig.savefig(path, dpi=100)
  plt.close(fig)


def plot_tradeoff(s: Sweep, path: str) -> None:
  plt = _pyplot()
  labels = [label for label in s.labels if label != sweep.SINGLE_TASK]
  pairs = [(a, b) for i, a in enumerate(s.task_names) for b in s.task_names[i + 1:]]
  fig, axes = plt.subplots(1, len(pairs), figsize=(4.6 * len(pairs), 4.4), squeeze=False)
  for ax, (a, b) in zip(axes[0], pairs):
    for label in labels:
      xa, ea = mean_std(s.values(label, f"{DELTA_M}/{a}"))
      xb, eb = mean_std(s.values(label, f"{DELTA_M}/{b}"))
      if math.isfinite(xa) and math.isfinite(xb):
        ax.errorbar(xa, xb, xerr=ea, yerr=eb, fmt="o", color=_colour(label), markersize=4,
                    elinewidth=0.6, capsize=1.5)
        ax.annotate(label, (xa, xb), fontsize=6, xytext=(3, 2), textcoords="offset points")
    ax.axhline(0.0, color="black", linewidth=0.6)
    ax.axvline(0.0, color="black", linewidth=0.6)
    ax.set_xlabel(f"Δ {a} % (better →)")
    ax.set_ylabel(f"Δ {b} % (better ↑)")
  fig.suptitle("per-task Δ against single-task; ±1 std over seeds", fontsize=10)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def write(sweep_dir: str) -> list[str]:
  """Writes the tables and, where they have something to show, the plots; returns the paths."""
  s = Sweep(sweep_dir)
  paths = write_tables(s)
  plots: list[tuple[str, Any]] = [("weights.png", plot_weights)]
  if s.baselines:
    plots += [("delta_m.png", plot_delta_m), ("relative.png", plot_relative)]
    if len(s.task_names) >= 2:
      plots.append(("tradeoff.png", plot_tradeoff))
  for name, plot in plots:
    path = os.path.join(sweep_dir, name)
    plot(s, path)
    paths.append(path)
  return paths
