"""Single-task results that Δm is measured against: published ones, or the user's own.

``config.eval.single_task_baselines`` is resolved here to ``{"task/metric":
value}`` in mtl_jax's metric units (mIoU, pixel accuracy and the "within"
normals metrics in percent; depth errors in the ground truth's units, relative
error a ratio; angles in degrees):

* ``"published"``: ``PUBLISHED``, the single-task (STL) rows the field quotes,
  for the datasets exactly as they were measured on; none otherwise;
* ``"none"``: no Δm;
* comma-separated JSON files, each ``{"task/metric": value, ...}`` or a
  ``final.json`` of mtl_jax (its ``"mean"`` is used), e.g. those of
  single-task runs, one per task.

Only the metrics of the tasks being trained are kept, so a run on a subset of
a dataset's tasks gets Δm over those tasks' metrics.

Where the published numbers come from: the single-task rows of CAGrad (Liu et
al., NeurIPS 2021), quoted unchanged in the NYUv2 and Cityscapes tables of
Nash-MTL (Navon et al., ICML 2022) and FAMO (Liu et al., NeurIPS 2023), for
MTAN's SegNet trained 200 epochs on the preprocessed releases. The same numbers
are the ``BASE`` arrays of those papers' code (nash-mtl
``experiments/nyuv2/utils.py``, FAMO ``experiments/cityscapes/utils.py``),
there with mIoU, pixel accuracy and the "within" metrics as fractions. Units:
the tables print percent where mtl_jax does too; Cityscapes' relative error
27.77 is NOT a percentage but the ratio ``mean |d - d*| / d*`` (MTAN's
``depth_error``, which the same tables use for NYUv2's 0.2780): the release's
depth is inverse depth, near zero far away, which makes the ratio large.
"""

import json
import math
import os
from typing import Mapping

import ml_collections

from mtl_jax import data

NYUV2_STL = {
    "segmentation/miou": 38.30, "segmentation/pixel_acc": 63.76,
    "depth/abs_err": 0.6754, "depth/rel_err": 0.2780,
    "normals/mean_angle": 25.01, "normals/median_angle": 19.21,
    "normals/within_11.25": 30.14, "normals/within_22.5": 57.20, "normals/within_30": 69.15,
}
CITYSCAPES_7_STL = {
    "segmentation/miou": 74.01, "segmentation/pixel_acc": 93.16,
    "depth/abs_err": 0.0125, "depth/rel_err": 27.77,  # A ratio (see above).
}


def published(dataset: ml_collections.ConfigDict, info=None) -> dict[str, float]:
  """The published STL results for ``config.dataset``, or {} where none apply.

  They apply to NYUv2 at 288x384 and to Cityscapes from the preprocessed
  release with 7 classes at 128x256 (the official source's depth is in
  metres, another unit; no 19-class STL row is quoted).

  >>> cfg = ml_collections.ConfigDict({"name": "nyuv2", "height": None, "width": None})
  >>> published(cfg)["depth/abs_err"]
  0.6754
  >>> cfg.height = 144
  >>> published(cfg)
  {}
  """
  if dataset.name not in data.REGISTRY:
    return {}
  shape = (info or data.info(dataset)).image_shape[:2]
  if dataset.name == "nyuv2" and shape == (data.nyuv2.HEIGHT, data.nyuv2.WIDTH):
    return dict(NYUV2_STL)
  if (dataset.name == "cityscapes" and data.cityscapes.options(dataset) == ("preprocessed", 7)
      and shape == (data.cityscapes.HEIGHT, data.cityscapes.WIDTH)):
    return dict(CITYSCAPES_7_STL)
  return {}


def _from_files(paths) -> dict[str, float]:
  values, origin = {}, {}
  for path in paths:
    try:
      with open(path) as f:
        loaded = json.load(f)
    except (OSError, ValueError) as e:
      raise ValueError(f"cannot read {path!r} as JSON ({e})") from e
    if not isinstance(loaded, dict):
      raise ValueError(f"{path}: expected a JSON object of metrics")
    loaded = loaded.get("mean", loaded)  # A final.json: its mean of the last evaluations.
    for key, value in loaded.items():
      if "/" not in key or isinstance(value, (list, dict)):
        continue
      if key in values and values[key] != value:
        raise ValueError(f"{key} is {values[key]} in {origin[key]} but {value} in {path}")
      values[key], origin[key] = value, path
  return values


def resolve(spec: str, dataset: ml_collections.ConfigDict,
            higher_is_better: Mapping[str, bool], info=None) -> dict[str, float]:
  """``config.eval.single_task_baselines`` as ``{"task/metric": value}`` for Δm.

  Args:
    spec: "published", "none" or comma-separated JSON file paths.
    dataset: ``config.dataset``.
    higher_is_better: ``{"task/metric": bool}`` of the metrics being evaluated
      (the trained tasks'); the result keeps only these keys.
    info: ``data.info(dataset)``, if the caller has it already.

  Raises:
    ValueError: an unreadable file, a metric of an unknown task or metric, or
      a value that is not a finite non-zero number (naming it).
  """
  spec = (spec or "none").strip()
  info = info or data.info(dataset)
  if spec == "published":
    values = published(dataset, info)
  elif spec == "none":
    values = {}
  else:
    values = _from_files([p.strip() for p in spec.split(",") if p.strip()])
  dataset_tasks = info.tasks
  trained = {key.split("/", 1)[0] for key in higher_is_better}
  kept = {}
  for key, value in values.items():
    task = key.split("/", 1)[0]
    if task not in dataset_tasks:
      raise ValueError(f"{key}: {task!r} is not a task of {dataset.name!r}"
                       f" ({', '.join(dataset_tasks)})")
    if task in trained and key not in higher_is_better:
      known = sorted(k for k in higher_is_better if k.startswith(task + "/"))
      raise ValueError(f"{key}: unknown metric; {task} has {', '.join(known)}")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
        math.isfinite(value) and value != 0):
      raise ValueError(f"{key}: baseline {value!r} must be a finite non-zero number")
    if key in higher_is_better:
      kept[key] = float(value)
  return kept


def describe(spec: str) -> str:
  """Where the baselines came from, for the summary file."""
  spec = (spec or "none").strip()
  if spec in ("published", "none"):
    return spec
  return ", ".join(os.path.abspath(p.strip()) for p in spec.split(",") if p.strip())
