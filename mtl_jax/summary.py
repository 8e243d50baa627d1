"""Where metrics go: ``metrics.jsonl`` for evaluations, ``train.jsonl`` for training, TensorBoard.

``metrics.jsonl`` holds one JSON object per evaluation (``{"step": 1000,
"segmentation/miou": 61.2, ...}``); ``train.jsonl`` one per log interval of
training (``{"step": 50, "loss/depth": ..., "weight/depth": ..., "learning_rate":
..., "images_per_second": ...}``, losses and weights the means over the steps
since the previous line). TensorBoard gets both, the resolved config (text and
hparams) and the prediction panels; its files are written with tensorboardX,
which needs no TensorFlow.
"""

import json
import os
from typing import Any, Mapping

import numpy as np
import tensorboardX
import tensorboardX.summary
from absl import logging
from PIL import Image


TRAIN_FILE = "train.jsonl"


def read_jsonl(path: str) -> list[dict]:
  """The objects of a JSON-lines file, oldest first ([] if it does not exist). A line that
  does not parse (half written when a run was killed or its disk filled) is skipped with a
  warning naming the file and line."""
  if not os.path.exists(path):
    return []
  rows = []
  with open(path) as f:
    for number, line in enumerate(f, 1):
      if not line.strip():
        continue
      try:
        rows.append(json.loads(line))
      except ValueError:
        logging.warning("%s:%d: not a JSON line (half written?); skipped", path, number)
  return rows


def _append(path: str, row: dict) -> None:
  """Appends one JSON line; on failure the file is cut back (no half-written line)."""
  size = os.path.getsize(path) if os.path.exists(path) else 0
  try:
    with open(path, "a") as f:
      f.write(json.dumps(row) + "\n")
  except OSError as e:
    os.truncate(path, size)  # A full disk, say.
    raise OSError(e.errno, e.strerror, path) from e


def _truncate(path: str, step: int) -> None:
  """Drops the rows after ``step`` (a resumed run redoes them); atomically."""
  if not os.path.exists(path):
    return
  rows = [row for row in read_jsonl(path) if row["step"] <= step]
  tmp = path + ".tmp"
  try:
    with open(tmp, "w") as f:
      f.writelines(json.dumps(row) + "\n" for row in rows)
    os.replace(tmp, path)
  except OSError as e:
    raise OSError(e.errno, e.strerror, path) from e
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


class MetricWriter:
  """Writes training scalars and evaluation results under ``workdir``.

  ``primary``: only the primary process of a multi-process run writes (every
  process computes the same values); the others read what it wrote.
  """

  def __init__(self, workdir: str, primary: bool = True):
    os.makedirs(workdir, exist_ok=True)
    self.primary = primary
    self.jsonl_path = os.path.join(workdir, "metrics.jsonl")
    self.train_path = os.path.join(workdir, TRAIN_FILE)
    self._tb = (tensorboardX.SummaryWriter(os.path.join(workdir, "tensorboard")) if primary
                else None)

  def rows(self) -> list[dict]:
    """The evaluations in ``metrics.jsonl``, oldest first (half-written lines skipped)."""
    return read_jsonl(self.jsonl_path)

  def truncate_after(self, step: int) -> None:
    """Drops evaluations and training rows after ``step`` (a resumed run redoes them)."""
    if self.primary:
      _truncate(self.jsonl_path, step)
      _truncate(self.train_path, step)

  def last_evaluation(self) -> dict[str, float]:
    """The newest evaluation in ``metrics.jsonl`` without its step ({} if none)."""
    rows = self.rows()
    return {k: v for k, v in rows[-1].items() if k != "step"} if rows else {}

  def scalars(self, step: int, values: Mapping[str, float]) -> None:
    """TensorBoard scalars (no file of their own)."""
    if not self.primary:
      return
    for key, value in values.items():
      self._tb.add_scalar(key, float(value), step)

  def training(self, step: int, values: Mapping[str, float]) -> None:
    """One line of ``train.jsonl`` and the same values in TensorBoard under ``train/``."""
    if not self.primary:
      return
    _append(self.train_path, {"step": int(step), **{k: _jsonable(v) for k, v in values.items()}})
    self.scalars(step, {f"train/{k}": v for k, v in values.items()})

  def evaluation(self, step: int, results: Mapping[str, float]) -> None:
    """Appends one evaluation to ``metrics.jsonl`` and to TensorBoard under ``eval/``."""
    if not self.primary:
      return
    _append(self.jsonl_path, {"step": int(step), **{k: _jsonable(v) for k, v in results.items()}})
    self.scalars(step, {f"eval/{k}": v for k, v in results.items() if v is not None})

  def config(self, flat: Mapping[str, Any]) -> None:
    """The resolved config in TensorBoard: a text table and hparams (``key: value``)."""
    if not self.primary:
      return
    lines = ["| key | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in flat.items()]
    self._tb.add_text("config", "\n".join(lines), 0)
    hparams = {k: v if isinstance(v, (int, float, str, bool)) else str(v)
               for k, v in flat.items()}
    experiment, start, end = tensorboardX.summary.hparams(hparams, {})
    for event in (experiment, start, end):
      self._tb.file_writer.add_summary(event)

  def image(self, tag: str, step: int, png_path: str) -> None:
    """A PNG file as a TensorBoard image."""
    if not self.primary:
      return
    with Image.open(png_path) as image:
      pixels = np.asarray(image.convert("RGB"))
    self._tb.add_image(tag, pixels, step, dataformats="HWC")

  def flush(self) -> None:
    if self._tb is not None:
      self._tb.flush()

  def close(self) -> None:
    if self._tb is not None:
      self._tb.close()


def _jsonable(value) -> float | None:
  value = float(np.asarray(value))
  return value if np.isfinite(value) else None
