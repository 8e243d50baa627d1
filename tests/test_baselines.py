"""Single-task baselines: the published numbers, the user's files, and their errors."""

import json

import pytest

from configs import default
from mtl_jax import baselines
from mtl_jax import build
from mtl_jax import schema

# The STL rows of the NYUv2 and Cityscapes tables of CAGrad / Nash-MTL / FAMO, as printed.
NYUV2_TABLE = {"segmentation/miou": 38.30, "segmentation/pixel_acc": 63.76,
               "depth/abs_err": 0.6754, "depth/rel_err": 0.2780,
               "normals/mean_angle": 25.01, "normals/median_angle": 19.21,
               "normals/within_11.25": 30.14, "normals/within_22.5": 57.20,
               "normals/within_30": 69.15}
CITYSCAPES_TABLE = {"segmentation/miou": 74.01, "segmentation/pixel_acc": 93.16,
                    "depth/abs_err": 0.0125, "depth/rel_err": 27.77}
HIGHER = {"segmentation/miou": True, "segmentation/pixel_acc": True, "depth/abs_err": False,
          "depth/rel_err": False}
HIGHER_NORMALS = {"normals/mean_angle": False, "normals/median_angle": False,
                  "normals/within_11.25": True, "normals/within_22.5": True,
                  "normals/within_30": True}


def _dataset(name, **fields):
  config = default.get_config()
  config.dataset.name = name
  for key, value in fields.items():
    config.dataset[key] = value
  return config.dataset


@pytest.mark.parametrize("name, fields, want", [
    ("nyuv2", {}, NYUV2_TABLE),
    ("nyuv2", {"height": 288, "width": 384}, NYUV2_TABLE),
    ("nyuv2", {"height": 144, "width": 192}, {}),  # Not what the STL runs were measured on.
    ("cityscapes", {}, CITYSCAPES_TABLE),
    ("cityscapes", {"num_classes": 19}, {}),
    ("cityscapes", {"source": "official"}, {}),  # Depth in metres, not the release's units.
    ("cityscapes", {"height": 256, "width": 512}, {}),
    ("synthetic_scenes", {}, {}),
])
def test_published(name, fields, want):
  assert baselines.published(_dataset(name, **fields)) == want


def test_only_the_trained_tasks_count():
  assert baselines.resolve("published", _dataset("nyuv2"), HIGHER) == {
      k: NYUV2_TABLE[k] for k in HIGHER}
  assert baselines.resolve("none", _dataset("nyuv2"), HIGHER) == {}


def test_own_single_task_runs_from_files(tmp_path):
  seg = tmp_path / "seg_final.json"  # A final.json: its "mean" counts, not "last".
  seg.write_text(json.dumps({"last": {"step": 9, "segmentation/miou": 1.0},
                             "mean": {"steps": [8, 9], "segmentation/miou": 41.5,
                                      "segmentation/pixel_acc": 66.0, "delta_m": None}}))
  depth = tmp_path / "depth.json"
  depth.write_text(json.dumps({"depth/abs_err": 0.5, "depth/rel_err": 0.2,
                               "normals/mean_angle": 20.0}))
  got = baselines.resolve(f"{seg}, {depth}", _dataset("nyuv2"), HIGHER)
  assert got == {"segmentation/miou": 41.5, "segmentation/pixel_acc": 66.0,
                 "depth/abs_err": 0.5, "depth/rel_err": 0.2}


@pytest.mark.parametrize("content, message", [
    ({"segmentation/mIoU": 40.0}, "segmentation/mIoU: unknown metric; segmentation has"
     " segmentation/miou, segmentation/pixel_acc"),
    ({"edges/odsf": 0.7}, "edges/odsf: 'edges' is not a task of 'nyuv2'"),
    ({"depth/abs_err": 0}, "depth/abs_err: baseline 0 must be a finite non-zero number"),
    ({"depth/abs_err": "0.5"}, "depth/abs_err: baseline '0.5' must be"),
    ([1, 2], "expected a JSON object"),
])
def test_bad_file_names_the_metric(tmp_path, content, message):
  path = tmp_path / "stl.json"
  path.write_text(json.dumps(content))
  with pytest.raises(ValueError) as raised:
    baselines.resolve(str(path), _dataset("nyuv2"), HIGHER)
  assert message in str(raised.value)


def test_conflicting_files_are_named(tmp_path):
  (tmp_path / "a.json").write_text(json.dumps({"depth/abs_err": 0.5}))
  (tmp_path / "b.json").write_text(json.dumps({"depth/abs_err": 0.6}))
  with pytest.raises(ValueError, match=r"depth/abs_err is 0.5 in .*a\.json but 0.6 in .*b\.json"):
    baselines.resolve(f"{tmp_path / 'a.json'},{tmp_path / 'b.json'}", _dataset("nyuv2"), HIGHER)


def test_validation_names_the_key(tmp_path):
  config = default.get_config()
  config.input.batch_size = config.input.eval_batch_size = 8
  config.eval.single_task_baselines = str(tmp_path / "missing.json")
  with pytest.raises(schema.ConfigError,
                     match=r"config\.eval\.single_task_baselines: cannot read .*missing\.json"):
    build.experiment(config, with_data=False)
  config.eval.single_task_baselines = "published"  # synthetic_scenes: none, no error.
  build.experiment(config, with_data=False)
