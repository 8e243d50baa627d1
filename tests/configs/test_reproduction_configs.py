"""Every configs/nyuv2_*.py and configs/cityscapes_*.py trains two steps and evaluates.

With 8 simulated devices, on tiny files fabricated in the release layout, and
everything of the config kept but size, widths, batch and length
(``tiny_runs.shrink``).
"""

import glob
import importlib
import json
import math
import os

import numpy as np
import pytest

from mtl_jax import data
from mtl_jax import train
from tests.configs import tiny_runs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = sorted(os.path.splitext(os.path.basename(p))[0]
                 for pattern in ("nyuv2_*.py", "cityscapes_*.py")
                 for p in glob.glob(os.path.join(ROOT, "configs", pattern)))
TRAINED = ["cityscapes_hps", "nyuv2_hps", "nyuv2_mtran"]
TRACED = sorted(set(CONFIGS) - set(TRAINED))


def test_there_are_reproduction_configs():
  assert {"nyuv2_hps", "cityscapes_hps"} <= set(CONFIGS)


@pytest.fixture(scope="module")
def manual_dirs(tmp_path_factory):
  """(data_dir, {dataset kind: manual dir}), files written on first use."""
  root = tmp_path_factory.mktemp("benchmarks")
  made = {}

  def manual_dir(dataset):
    kind = (dataset.name, dataset.source, dataset.height, dataset.width)
    if kind not in made:
      made[kind] = str(root / f"manual{len(made)}")
      tiny_runs.fabricate(dataset, made[kind])
    return made[kind]
  return str(root / "tfds"), manual_dir


@pytest.mark.parametrize("name", TRACED)
def test_config_builds_on_its_data_and_its_step_traces(name, manual_dirs):
  import functools  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  from mtl_jax import build, parallel, train_state  # pylint: disable=g-import-not-at-top
  original = importlib.import_module(f"configs.{name}").get_config()
  data_dir, manual_dir = manual_dirs
  config = tiny_runs.shrink(original, data_dir)
  config.dataset.manual_dir = manual_dir(config.dataset)
  exp = build.experiment(config)  # Builds (or reads) the dataset, converts epochs.
  batch = jax.tree_util.tree_map(np.asarray, exp.source.train[0])
  batch = {k: np.stack([batch[k]] * config.input.batch_size) for k in exp.input_keys}
  state = jax.eval_shape(functools.partial(
      train_state.create, model=exp.model, tasks=exp.tasks, balancer=exp.balancer, tx=exp.tx,
      image_shape=exp.info.image_shape), jax.random.PRNGKey(0))
  dp = parallel.DataParallel("shard_map", 1)
  step = dp.compile(functools.partial(
      train.train_step, model=exp.model, tasks=exp.tasks, balancer=exp.balancer, tx=exp.tx,
      level=exp.config.balancer.level))
  _, metrics = jax.eval_shape(step, state, batch)
  assert set(metrics) >= {f"loss/{t}" for t in config.tasks.names}


@pytest.mark.parametrize("name", TRAINED)
def test_config_trains_two_steps_and_evaluates(name, manual_dirs, tmp_path):
  original = importlib.import_module(f"configs.{name}").get_config()
  data_dir, manual_dir = manual_dirs
  config = tiny_runs.shrink(original, data_dir)
  config.dataset.manual_dir = manual_dir(config.dataset)
  before, after = tiny_runs.flat(original), tiny_runs.flat(config)
  assert set(before) <= set(after) and set(after) - set(before) <= tiny_runs.SHRUNK
  assert {k for k in before if before[k] != after[k]} <= tiny_runs.SHRUNK

  results = train.train_and_evaluate(config, str(tmp_path))

  with open(tmp_path / "metrics.jsonl") as f:
    rows = [json.loads(line) for line in f]
  assert [r["step"] for r in rows] == [0] * bool(config.eval.at_start) + [tiny_runs.STEPS]
  info = data.info(config.dataset)
  assert set(info.tasks) >= set(config.tasks.names)
  for task in config.tasks.names:
    keys = [k for k in results if k.startswith(task + "/")]
    assert keys and all(math.isfinite(results[k]) for k in keys), (task, results)
  with open(tmp_path / "final.json") as f:
    final = json.load(f)
  assert final["last"]["step"] == tiny_runs.STEPS
  assert final["mean"]["steps"] == [tiny_runs.STEPS]
  np.testing.assert_equal({k: v for k, v in final["last"].items() if k != "step"},
                          {k: v for k, v in rows[-1].items() if k != "step"})
