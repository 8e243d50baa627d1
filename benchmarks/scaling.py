"""Per-device memory and traffic of the training step as the device count grows.

    python -m benchmarks.scaling --devices=1,8,64

Compiles ``train.train_step`` under ``shard_map`` for each device count (the
CPU simulates them: ``--xla_force_host_platform_device_count`` is set to the
largest) at a fixed per-device batch, for each ``--levels`` and
``--balancers`` (EW: one backward pass, the reference), and prints one JSON
object per line: XLA's compiled memory analysis of the per-device program
(``temp_bytes``, ``argument_bytes``, ``output_bytes``) and the bytes each kind
of collective produces in the optimised HLO (``collective_bytes``). Nothing
runs: the step is lowered on abstract arrays. The parameter level sums its
per-task gradients a shard per device as the config says
(``config.parallel.shard_task_grads``; ``--config.parallel.shard_task_grads=False``
for the plain psum).

``--table`` prints a Markdown table instead (docs/performance.md quotes it).
"""

import collections
import functools
import json
import os
import re
import sys

import jax
import numpy as np
from absl import app
from absl import flags
from jax.sharding import NamedSharding, PartitionSpec
from ml_collections import config_flags

from mtl_jax import build
from mtl_jax import parallel
from mtl_jax import train
from mtl_jax import train_state
from mtl_jax.data import modalities



def _define_flags():
  """The command's flags, defined when it runs (the tests import ``measure`` beside modules
  that define ``--config`` themselves)."""
  global _CONFIG, _DEVICES, _PER_DEVICE, _BALANCERS, _LEVELS, _TABLE  # pylint: disable=global-statement
  _CONFIG = config_flags.DEFINE_config_file("config", "configs/synthetic.py", "Config file.")
  _DEVICES = flags.DEFINE_list("devices", ["1", "8", "64"], "Device counts.")
  _PER_DEVICE = flags.DEFINE_integer("per_device_batch", 2, "Examples per device.")
  _BALANCERS = flags.DEFINE_list("balancers", ["ew", "imtl_g", "graddrop"], "Balancers.")
  _LEVELS = flags.DEFINE_list("levels", ["features", "params"], "Levels of the gradient methods.")
  _TABLE = flags.DEFINE_bool("table", False, "Print a Markdown table, not JSON lines.")


COLLECTIVES = ("all-reduce", "all-gather", "reduce-scatter", "all-to-all",
               "collective-permute")
_DTYPE_BYTES = {"pred": 1, "s8": 1, "u8": 1, "s16": 2, "u16": 2, "bf16": 2, "f16": 2,
                "s32": 4, "u32": 4, "f32": 4, "s64": 8, "u64": 8, "f64": 8}
_SHAPE = re.compile(r"\b(pred|[suf]\d+|bf16)\[([\d,]*)\]")
_OP = re.compile(r"=\s*(.*?)\s(" + "|".join(COLLECTIVES) + r")(-start)?\(")


def collective_bytes(hlo_text: str) -> dict[str, int]:
  """Bytes of the results of each kind of collective in an HLO module's text.

  An asynchronous pair (``all-reduce-start`` / ``-done``) is counted once, at
  its start; a tuple-shaped result counts each of its arrays.

  >>> collective_bytes("%a = f32[3,3]{1,0} all-reduce(f32[3,3]{1,0} %x), to_apply=%sum")
  {'all-reduce': 36}
  """
  totals = collections.Counter()
  for line in hlo_text.splitlines():
    match = _OP.search(line)
    if not match:
      continue
    shapes = _SHAPE.findall(match.group(1))
    size = 0
    for dtype, dims in shapes:
      count = 1
      for d in filter(None, dims.split(",")):
        count *= int(d)
      size += count * _DTYPE_BYTES[dtype]
    if match.group(3):  # A start's result also holds its operand: count the output half.
      size //= 2
    totals[match.group(2)] += size
  return dict(totals)


def measure(config, num_devices: int, balancer_name: str, level: str,
            per_device_batch: int) -> dict:
  """Compiles one step on the first ``num_devices`` devices: its sizes, as a dict."""
  config = config.copy_and_resolve_references()
  with config.unlocked():
    config.balancer.name = balancer_name
    config.balancer.kwargs = {}
    config.parallel.mode, config.parallel.num_devices = "shard_map", num_devices
    config.input.batch_size = config.input.eval_batch_size = num_devices * per_device_batch
  exp = build.experiment(config, with_data=False)
  dp = parallel.DataParallel("shard_map", num_devices)
  height, width = exp.info.image_shape[:2]
  state = jax.eval_shape(functools.partial(
      train_state.create, model=exp.model, tasks=exp.tasks, balancer=exp.balancer, tx=exp.tx,
      image_shape=exp.info.image_shape), jax.random.PRNGKey(0))
  replicated = NamedSharding(dp.mesh, PartitionSpec())
  split = NamedSharding(dp.mesh, PartitionSpec(parallel.AXIS))
  state = jax.tree_util.tree_map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=replicated), state)
  batch = {}
  for key in exp.input_keys:
    modality = modalities.get(key)
    shape = (num_devices * per_device_batch, height, width) + (
        (modality.channels,) if modality.channels else ())
    batch[key] = jax.ShapeDtypeStruct(shape, np.dtype(modality.dtype), sharding=split)
  step = dp.compile(functools.partial(train.train_step, model=exp.model, tasks=exp.tasks,
                                      balancer=exp.balancer, tx=exp.tx, level=level,
                                      shard_task_grads=config.parallel.shard_task_grads),
                    donate_argnums=(0,))
  compiled = step.lower(state, batch).compile()
  memory = compiled.memory_analysis()
  return {"devices": num_devices, "balancer": balancer_name,
          "level": level if exp.balancer.needs_task_grads else "loss",
          "per_device_batch": per_device_batch,
          "temp_bytes": int(memory.temp_size_in_bytes),
          "argument_bytes": int(memory.argument_size_in_bytes),
          "output_bytes": int(memory.output_size_in_bytes),
          "collective_bytes": collective_bytes(compiled.as_text())}


def _table(rows: list[dict]) -> str:
  lines = ["| balancer | level | devices | temp MB / device | collectives MB / device |",
           "|---|---|---:|---:|---:|"]
  for r in rows:
    moved = sum(r["collective_bytes"].values()) / 1e6
    lines.append(f"| {r['balancer']} | {r['level']} | {r['devices']} |"
                 f" {r['temp_bytes'] / 1e6:.1f} | {moved:.2f} |")
  return "\n".join(lines)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Too many command-line arguments: {argv[1:]}")
  counts = [int(n) for n in _DEVICES.value]
  # Before JAX starts its CPU client (importing it does not): simulate enough devices.
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                             f" --xla_force_host_platform_device_count={max(counts)}")
  if len(jax.devices()) < max(counts):
    raise app.UsageError(f"--devices: {max(counts)} devices wanted but JAX has "
                         f"{len(jax.devices())} (was it started before this flag was set?)")
  rows = []
  for name in _BALANCERS.value:
    for level in _LEVELS.value:
      for n in counts:
        row = measure(_CONFIG.value, n, name, level, _PER_DEVICE.value)
        if row["level"] == "loss" and level != _LEVELS.value[0]:
          break  # A loss-level method has one route: measured once.
        rows.append(row)
        if not _TABLE.value:
          print(json.dumps(row), flush=True)
  if _TABLE.value:
    print(_table(rows))
  return 0


if __name__ == "__main__":
  _define_flags()
  sys.exit(app.run(main))
