"""Every network trained on synthetic scenes with the same budget: a Markdown table.

    python -m benchmarks.synthetic_table --steps=250 --workdir=/tmp/mtl_jax/synthetic_table

Runs ``python -m mtl_jax.main --config=configs/synthetic_<name>.py`` for each
registered network that has such a config (hps, mtran, mtan, cross_stitch,
single_task, and densemtl and semboost once registered), one after the other
in subprocesses with 8 simulated CPU devices, all with the same number of
steps, batch, data and schedule (each config's defaults otherwise: MTRAN
trains with IMTL-RWL at the feature level, the others with equal weights),
evaluating the untrained network (step 0) and the final one on the whole test
split. Prints parameters, the initial -> final test metrics and the minutes
each run took. A run already finished in ``--workdir`` is reused (delete it to
rerun). 250 steps of all seven networks should take 30-40 minutes on 2 quiet
CPU cores (an estimate from step times relative to hard sharing's, measured
on a busy machine: MTRAN 2x, MTAN 1.8x, single-task 1.3x, cross-stitch 1x).
"""

import ast
import importlib
import json
import os
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app
from absl import flags

from mtl_jax import build
from mtl_jax import data
from mtl_jax import models

_STEPS = flags.DEFINE_integer("steps", 250, "Training steps for every network.")
_WORKDIR = flags.DEFINE_string("workdir", "/tmp/mtl_jax/synthetic_table", "Root of the runs.")
_NETWORKS = flags.DEFINE_list("networks", None, "Networks to run (default: all with a config).")
_OVERRIDES = flags.DEFINE_multi_string(
    "override", [], "Extra --config.* flags for every run, e.g. dataset.num_test=40.")

ORDER = ("hps", "mtran", "mtan", "cross_stitch", "single_task", "densemtl", "semboost")
# (metric key, column title, higher is better)
METRICS = (("segmentation/miou", "mIoU ↑"), ("segmentation/pixel_acc", "pix acc ↑"),
           ("depth/abs_err", "abs err ↓"), ("depth/rel_err", "rel err ↓"),
           ("normals/mean_angle", "mean angle ↓"), ("normals/within_11.25", "11.25° ↑"))


def networks() -> list[str]:
  names = _NETWORKS.value or [n for n in ORDER if n in models.REGISTRY]
  return [n for n in names if os.path.exists(f"configs/synthetic_{n}.py")]


def num_params(name: str) -> int:
  """The network's parameter count as its config builds it (traced, not allocated)."""
  config = importlib.import_module(f"configs.synthetic_{name}").get_config()
  for override in _OVERRIDES.value:
    key, value = override.split("=", 1)
    try:
      value = ast.literal_eval(value)
    except (ValueError, SyntaxError):
      pass  # A string.
    config.update_from_flattened_dict({key: value})
  exp = build.experiment(config, with_data=False)
  model = exp.model
  # The dataset's image size (the config's height and width are None for its default).
  x = jax.ShapeDtypeStruct((1, *data.info(config.dataset).image_shape), jnp.float32)
  variables = jax.eval_shape(lambda x: model.init(jax.random.PRNGKey(0), x, train=False), x)
  return sum(int(np.prod(p.shape)) for p in jax.tree_util.tree_leaves(variables["params"]))


def read_evaluations(path: str) -> list[dict]:
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f]


def run(name: str, steps: int) -> tuple[list[dict], float]:
  """Trains ``name`` (or reuses a finished run); returns its evaluations and seconds taken.

  Seconds are None for a reused run.
  """
  workdir = os.path.join(_WORKDIR.value, name)
  metrics_path = os.path.join(workdir, "metrics.jsonl")
  rows = read_evaluations(metrics_path)
  if rows and rows[-1]["step"] == steps:
    return rows, None
  start = time.time()
  command = [sys.executable, "-m", "mtl_jax.main", f"--config=configs/synthetic_{name}.py",
             f"--workdir={workdir}", f"--config.schedule.num_steps={steps}",
             f"--config.eval.every_steps={steps}", f"--config.schedule.checkpoint_every={steps}",
             "--config.eval.at_start=True"] + [f"--config.{o}" for o in _OVERRIDES.value]
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8")
  print(f"[{name}] {' '.join(command[1:])}", file=sys.stderr, flush=True)
  subprocess.run(command, env=env, check=True)
  return read_evaluations(metrics_path), time.time() - start


def main(argv):
  del argv
  results = {}
  for name in networks():
    rows, seconds = run(name, _STEPS.value)
    first, last = rows[0], rows[-1]
    if first["step"] != 0 or last["step"] != _STEPS.value:
      raise RuntimeError(f"{name}: evaluations at steps {[r['step'] for r in rows]},"
                         f" expected 0 and {_STEPS.value}")
    results[name] = (num_params(name), first, last, seconds)

  print(f"\nSynthetic scenes, {_STEPS.value} steps each (step 0 -> final, test split):\n")
  print("| network | params | " + " | ".join(title for _, title in METRICS) + " | minutes |")
  print("|---|---:|" + "---:|" * len(METRICS) + "---:|")
  for name, (params, first, last, seconds) in results.items():
    cells = [f"{first[k]:.3g} → {last[k]:.3g}" if k in last else "-" for k, _ in METRICS]
    minutes = "reused" if seconds is None else f"{seconds / 60:.1f}"
    print(f"| {name} | {params / 1e6:.3f}M | " + " | ".join(cells) + f" | {minutes} |")


if __name__ == "__main__":
  app.run(main)
