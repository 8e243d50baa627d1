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
from absl import logging


class MetricWriter:
  """Writes training scalars and evaluation results under ``workdir``.

  ``primary``: only the primary process of a multi-process run writes (every
  process computes the same values); the others read what it wrote.
  """

  def __init__(self, workdir: str, primary: bool = True):
    os.makedirs(workdir, exist_ok=True)
    self.primary = primary
    self.jsonl_path = os.path.join(workdir, "metrics.jsonl")
    self._tb = (tensorboardX.SummaryWriter(os.path.join(workdir, "tensorboard")) if primary
                else None)

  def rows(self) -> list[dict]:
    """The evaluations in ``metrics.jsonl``, oldest first. A line that does not parse (half
    written when a run was killed or its disk filled) is skipped with a warning."""
    if not os.path.exists(self.jsonl_path):
      return []
    rows = []
    with open(self.jsonl_path) as f:
      for number, line in enumerate(f, 1):
        if not line.strip():
          continue
        try:
          rows.append(json.loads(line))
        except ValueError:
          logging.warning("%s:%d: not a JSON line (half written?); skipped", self.jsonl_path,
                          number)
    return rows

  def truncate_after(self, step: int) -> None:
    """Drops evaluations after ``step`` (a resumed run redoes them); atomically."""
    if not self.primary or not os.path.exists(self.jsonl_path):
      return
    rows = [row for row in self.rows() if row["step"] <= step]
    tmp = self.jsonl_path + ".tmp"
    try:
      with open(tmp, "w") as f:
        f.writelines(json.dumps(row) + "\n" for row in rows)
      os.replace(tmp, self.jsonl_path)
    except OSError as e:
      raise OSError(e.errno, e.strerror, self.jsonl_path) from e
    finally:
      if os.path.exists(tmp):
        os.remove(tmp)

  def last_evaluation(self) -> dict[str, float]:
    """The newest evaluation in ``metrics.jsonl`` without its step ({} if none)."""
    rows = self.rows()
    return {k: v for k, v in rows[-1].items() if k != "step"} if rows else {}

  def scalars(self, step: int, values: Mapping[str, float]) -> None:
    if not self.primary:
      return
    for key, value in values.items():
      self._tb.add_scalar(key, float(value), step)

  def evaluation(self, step: int, results: Mapping[str, float]) -> None:
    """Appends one evaluation to ``metrics.jsonl`` and to TensorBoard under ``eval/``."""
    if not self.primary:
      return
    row = {"step": int(step), **{k: _jsonable(v) for k, v in results.items()}}
    size = os.path.getsize(self.jsonl_path) if os.path.exists(self.jsonl_path) else 0
    try:
      with open(self.jsonl_path, "a") as f:
        f.write(json.dumps(row) + "\n")
    except OSError as e:
      os.truncate(self.jsonl_path, size)  # No half-written line (a full disk, say).
      raise OSError(e.errno, e.strerror, self.jsonl_path) from e
    self.scalars(step, {f"eval/{k}": v for k, v in results.items()})

  def flush(self) -> None:
    if self._tb is not None:
      self._tb.flush()

  def close(self) -> None:
    if self._tb is not None:
      self._tb.close()


def _jsonable(value) -> float | None:
  value = float(np.asarray(value))
  return value if np.isfinite(value) else None
