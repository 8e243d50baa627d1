"""Where metrics go: ``metrics.jsonl`` for evaluations, TensorBoard event files for all.

``metrics.jsonl`` holds one JSON object per evaluation (``{"step": 1000,
"segmentation/miou": 61.2, ...}``). TensorBoard files are written with
tensorboardX, which needs no TensorFlow.
"""

import json
import os
from typing import Mapping

import numpy as np
import tensorboardX


class MetricWriter:
  """Writes training scalars and evaluation results under ``workdir``."""

  def __init__(self, workdir: str):
    os.makedirs(workdir, exist_ok=True)
    self.jsonl_path = os.path.join(workdir, "metrics.jsonl")
    self._tb = tensorboardX.SummaryWriter(os.path.join(workdir, "tensorboard"))

  def truncate_after(self, step: int) -> None:
    """Drops evaluations after ``step`` (a resumed run redoes them)."""
    if not os.path.exists(self.jsonl_path):
      return
    with open(self.jsonl_path) as f:
      rows = [line for line in f if line.strip() and json.loads(line)["step"] <= step]
    with open(self.jsonl_path, "w") as f:
      f.writelines(rows)

  def last_evaluation(self) -> dict[str, float]:
    """The newest evaluation in ``metrics.jsonl`` without its step ({} if none)."""
    if not os.path.exists(self.jsonl_path):
      return {}
    with open(self.jsonl_path) as f:
      rows = [json.loads(line) for line in f if line.strip()]
    return {k: v for k, v in rows[-1].items() if k != "step"} if rows else {}

  def scalars(self, step: int, values: Mapping[str, float]) -> None:
    for key, value in values.items():
      self._tb.add_scalar(key, float(value), step)

  def evaluation(self, step: int, results: Mapping[str, float]) -> None:
    """Appends one evaluation to ``metrics.jsonl`` and to TensorBoard under ``eval/``."""
    row = {"step": int(step), **{k: _jsonable(v) for k, v in results.items()}}
    with open(self.jsonl_path, "a") as f:
      f.write(json.dumps(row) + "\n")
    self.scalars(step, {f"eval/{k}": v for k, v in results.items()})

  def flush(self) -> None:
    self._tb.flush()

  def close(self) -> None:
    self._tb.close()


def _jsonable(value) -> float | None:
  value = float(np.asarray(value))
  return value if np.isfinite(value) else None
