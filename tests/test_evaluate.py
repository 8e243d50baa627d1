"""Evaluation: the split's accumulators, and the field's per-batch protocol against NumPy."""

import functools
from typing import Any, NamedTuple

import flax.linen as nn
import numpy as np
import pytest

from mtl_jax import evaluate
from mtl_jax import parallel
from mtl_jax import protocol
from mtl_jax import tasks as tasks_lib

B, H, W = 16, 4, 5  # 16 examples over 8 devices: two per device, one group each.


class FromImage(nn.Module):
  """A parameter-free 'network' whose predictions are a fixed function of the image."""

  @nn.compact
  def __call__(self, images, train):
    del train
    return {"depth": 5.0 * images[..., :1], "normals": 2.0 * images - 1.0}


class State(NamedTuple):
  params: Any
  batch_stats: Any


def make_batch():
  rng = np.random.default_rng(0)
  batch = {"image": rng.integers(0, 256, (B, H, W, 3)).astype(np.uint8),
           "depth": rng.uniform(0.5, 5.0, (B, H, W)).astype(np.float32),
           "normals": rng.normal(size=(B, H, W, 3)).astype(np.float32)}
  batch["normals"] /= np.linalg.norm(batch["normals"], axis=-1, keepdims=True)
  batch["depth"][3:6, :2] = 0.0  # Uneven validity between the groups...
  batch["normals"][7, 1:] = 0.0
  batch["depth"][14:] = 0.0  # ...and a group with no valid depth (as padding): not counted.
  return batch


def field_protocol(batch, group=2):
  """MTAN's depth_error and normal_error of each batch of ``group``, averaged over batches."""
  images = batch["image"].astype(np.float64) / 255.0
  depth_pred, normal_pred = 5.0 * images[..., 0], 2.0 * images - 1.0
  rows = {"abs_err": [], "rel_err": []}
  normal_rows = {k: [] for k in ("mean_angle", "median_angle", "within_11.25", "within_22.5",
                                 "within_30")}
  for g in range(0, B, group):
    gt = batch["depth"][g:g + group].astype(np.float64)
    mask = gt != 0
    if mask.any():
      err = np.abs(depth_pred[g:g + group] - gt)[mask]
      rows["abs_err"].append(err.mean())
      rows["rel_err"].append((err / gt[mask]).mean())
    n_gt = batch["normals"][g:g + group].astype(np.float64)
    n_mask = n_gt.sum(-1) != 0
    unit = normal_pred[g:g + group] / np.linalg.norm(normal_pred[g:g + group], axis=-1,
                                                     keepdims=True)
    angle = np.degrees(np.arccos(np.clip((unit * n_gt).sum(-1), -1, 1)))[n_mask]
    for key, value in (("mean_angle", angle.mean()), ("median_angle", np.median(angle)),
                       ("within_11.25", 100 * np.mean(angle < 11.25)),
                       ("within_22.5", 100 * np.mean(angle < 22.5)),
                       ("within_30", 100 * np.mean(angle < 30))):
      normal_rows[key].append(value)
  return ({f"depth/{k}@per_batch": np.mean(v) for k, v in rows.items()},
          {f"normals/{k}@per_batch": np.mean(v) for k, v in normal_rows.items()})


@pytest.mark.parametrize("mode", parallel.MODES)
def test_per_batch_protocol_is_the_fields(mode):
  tasks = [tasks_lib.get("depth"), tasks_lib.get("normals", bin_width_degrees=0.001)]
  model = FromImage()
  dp = parallel.DataParallel(mode, 8)
  keys = evaluate.eval_keys(tasks, model, protocol="per_batch")
  assert keys == ["depth", "normals", "depth@per_batch", "normals@per_batch"]
  eval_fn = dp.compile(functools.partial(evaluate.eval_step, model=model, tasks=tasks,
                                         per_batch_size=2))
  batch = make_batch()
  results = evaluate.evaluate(eval_fn, State({}, {}), [batch], dp, tasks, keys)
  depth, normals = field_protocol(batch)
  for key, want in depth.items():
    np.testing.assert_allclose(results[key], want, rtol=1e-5, err_msg=key)
  for key, want in normals.items():
    tol = 0.001 if "median" in key else 1e-4 * max(1.0, abs(want))  # Histogram bins 0.001°.
    np.testing.assert_allclose(results[key], want, rtol=0, atol=tol, err_msg=key)
  # The split's metrics differ: the groups have different numbers of valid pixels.
  assert abs(results["depth/abs_err"] - results["depth/abs_err@per_batch"]) > 1e-4


def test_delta_m_of_the_per_batch_metrics():
  baselines = {"depth/abs_err": 0.5, "segmentation/miou": 40.0}
  higher = {"depth/abs_err": False, "segmentation/miou": True}
  row = protocol.with_delta_m({"depth/abs_err": 0.45, "depth/abs_err@per_batch": 0.4,
                               "segmentation/miou": 44.0}, baselines, higher)
  assert row["delta_m"] == pytest.approx(10.0) and row["delta_m@per_batch"] == pytest.approx(15.0)


def test_a_run_with_the_per_batch_protocol_reports_both(tiny_config, tmp_path):
  import json  # pylint: disable=g-import-not-at-top
  from mtl_jax import build, train  # pylint: disable=g-import-not-at-top
  tiny_config.eval.protocol = "per_batch"
  with pytest.raises(build.ConfigError,
                     match=r"config\.eval\.per_batch_size: the per-batch protocol needs each"
                           r" device's 1 evaluation examples"):
    build.experiment(tiny_config, with_data=False)
  tiny_config.input.eval_batch_size = 16
  tiny_config.schedule.num_steps = 3
  tiny_config.eval.single_task_baselines = str(tmp_path / "stl.json")
  (tmp_path / "stl.json").write_text(json.dumps({"depth/abs_err": 2.0,
                                                 "normals/mean_angle": 50.0}))
  train.train_and_evaluate(tiny_config, str(tmp_path / "run"))
  final = json.loads((tmp_path / "run" / "final.json").read_text())
  for part in ("last", "mean"):
    for key in ("depth/abs_err@per_batch", "normals/median_angle@per_batch", "delta_m@per_batch",
                "depth/abs_err", "delta_m"):
      assert np.isfinite(final[part][key]), (part, key)
  assert "segmentation/miou@per_batch" not in final["last"]
  tiny_config.eval.protocol = "per_image"
  with pytest.raises(build.ConfigError, match=r"config\.eval\.protocol: unknown value 'per_image'"):
    build.experiment(tiny_config, with_data=False)
