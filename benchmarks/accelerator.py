"""The training step on whatever accelerator is present: time, throughput, FLOP utilisation, memory.

    python -m benchmarks.accelerator

For each of ``--configs`` (the default job and the NYUv2 HPS network), EW and
IMTL-G at both levels, in float32 and bfloat16 (``config.model.dtype``),
compiles ``train.train_step`` on all local devices at the config's global
batch and measures, after ``--warmup`` steps, the median of ``--repeats``
timings of ``--steps`` steps each:

* step time and images/s;
* model FLOP utilisation: the step's FLOPs by XLA's cost analysis of the
  compiled program, per device, over its time, over the device's peak
  (``--peak_tflops``, else looked up for known devices: their dense bfloat16
  tensor peak, the usual denominator, for float32 rows too);
* peak device memory (``memory_stats()['peak_bytes_in_use']`` where the
  runtime reports it, the CPU does not: the process's peak so far, so rows
  run in order of size read true) and XLA's compiled temporaries of the row.

Prints a Markdown table. Batches are fabricated on the host (valid labels,
depths and unit normals): the input pipeline is not measured here
(``benchmarks.input_pipeline`` is). ``--tiny`` shrinks everything to seconds
for the tests.
"""

import functools
import statistics
import time

import jax
from absl import app
from absl import flags

from benchmarks import fabricated
from mtl_jax import build
from mtl_jax import cli
from mtl_jax import parallel
from mtl_jax import train
from mtl_jax import train_state

_CONFIGS = flags.DEFINE_list("configs", ["configs/synthetic.py", "configs/nyuv2_hps.py"],
                             "Config files.")
_ROWS = flags.DEFINE_list("rows", ["ew/params", "imtl_g/params", "imtl_g/features"],
                          "balancer/level pairs.")
_DTYPES = flags.DEFINE_list("dtypes", ["float32", "bfloat16"], "Compute dtypes.")
_STEPS = flags.DEFINE_integer("steps", 10, "Timed steps per repeat.")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Repeats (the median is reported).")
_WARMUP = flags.DEFINE_integer("warmup", 2, "Untimed steps after compilation.")
_PEAK = flags.DEFINE_float("peak_tflops", None, "The device's peak TFLOP/s (default: looked up).")
_TINY = flags.DEFINE_bool("tiny", False, "16x24 images, 2 stages, batch 2 per device (tests).")

# Dense bfloat16 tensor peaks, TFLOP/s per device (vendor data sheets), by device kind.
PEAK_TFLOPS = (("H200", 989.0), ("H100", 989.0), ("A100", 312.0), ("L40S", 362.0),
               ("L4", 121.0), ("A10", 125.0), ("TPU v6", 918.0), ("TPU v5p", 459.0),
               ("TPU v5", 197.0), ("TPU v4", 275.0))


def peak_tflops(device_kind: str):
  """The table's peak for ``device_kind`` (None when unknown, e.g. a CPU).

  >>> peak_tflops("NVIDIA H100 80GB HBM3"), peak_tflops("TPU v5 lite"), peak_tflops("cpu")
  (989.0, 197.0, None)
  """
  return next((peak for name, peak in PEAK_TFLOPS if name in device_kind), None)


def _config(path: str, balancer: str, level: str, dtype: str):
  config, _ = cli.load([f"--config={path}", "--workdir=/tmp/unused",
                        f"--config.balancer.name={balancer}", f"--config.balancer.level={level}",
                        f"--config.model.dtype={dtype}"])
  with config.unlocked():
    config.balancer.kwargs = {}
    if _TINY.value:
      config.dataset.height, config.dataset.width = 16, 24
      config.model.kwargs.widths = tuple(config.model.kwargs.widths)[:2]
      if config.model.kwargs.get("depths"):
        config.model.kwargs.depths = tuple(config.model.kwargs.depths)[:2]
      config.input.batch_size = 2 * jax.local_device_count()
  return config


def measure(path: str, balancer: str, level: str, dtype: str) -> dict:
  """One row: compile, warm up, time; the numbers as a dict."""
  config = _config(path, balancer, level, dtype)
  exp = build.experiment(config, with_data=False)
  dp = parallel.DataParallel(config.parallel.mode, config.parallel.num_devices)
  height, width = exp.info.image_shape[:2]
  state = dp.replicate(train_state.create(jax.random.PRNGKey(0), exp.model, exp.tasks,
                                          exp.balancer, exp.tx, exp.info.image_shape))
  batch = dp.shard_batch(fabricated.batch(exp.input_keys, config.input.batch_size, height,
                                          width, exp.info.num_classes))
  step = dp.compile(functools.partial(
      train.train_step, model=exp.model, tasks=exp.tasks, balancer=exp.balancer, tx=exp.tx,
      level=level, shard_task_grads=config.parallel.shard_task_grads,
      dtype=build.compute_dtype(config)), donate_argnums=(0,))
  start = time.perf_counter()
  compiled = step.lower(state, batch).compile()
  compile_s = time.perf_counter() - start
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  flops = float(cost.get("flops", 0.0)) if cost else 0.0
  temp = compiled.memory_analysis().temp_size_in_bytes
  for _ in range(max(_WARMUP.value, 1)):
    state, metrics = compiled(state, batch)
  jax.block_until_ready(metrics)
  times = []
  for _ in range(_REPEATS.value):
    start = time.perf_counter()
    for _ in range(_STEPS.value):
      state, metrics = compiled(state, batch)
    jax.block_until_ready(metrics)
    times.append((time.perf_counter() - start) / _STEPS.value)
  seconds = statistics.median(times)
  device = dp.local_devices[0]
  stats = device.memory_stats() or {}
  peak = _PEAK.value or peak_tflops(device.device_kind)
  return {"config": path, "balancer": balancer, "level": level, "dtype": dtype,
          "devices": dp.num_devices, "batch": config.input.batch_size,
          "ms": 1e3 * seconds, "images_s": config.input.batch_size / seconds,
          "tflops": flops / seconds / 1e12, "mfu": flops / seconds / 1e12 / peak if peak else None,
          "peak_mb": stats.get("peak_bytes_in_use", 0) / 2**20 or None,
          "temp_mb": temp / 2**20, "compile_s": compile_s}


def table(rows: list[dict], device_kind: str) -> str:
  """The rows as Markdown."""
  lines = [f"{device_kind}, {rows[0]['devices'] if rows else 0} device(s)\n",
           "| config | balancer | level | dtype | batch | ms/step | images/s | TFLOP/s |"
           " MFU | peak MiB so far | temp MiB | compile s |",
           "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
  for r in rows:
    mfu = "–" if r["mfu"] is None else f"{100 * r['mfu']:.1f}%"
    peak = "–" if r["peak_mb"] is None else f"{r['peak_mb']:.0f}"
    lines.append(f"| {r['config']} | {r['balancer']} | {r['level']} | {r['dtype']} |"
                 f" {r['batch']} | {r['ms']:.1f} | {r['images_s']:.1f} | {r['tflops']:.3g} |"
                 f" {mfu} | {peak} | {r['temp_mb']:.0f} | {r['compile_s']:.0f} |")
  return "\n".join(lines)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Too many command-line arguments: {argv[1:]}")
  rows = []
  for path in _CONFIGS.value:
    for pair in _ROWS.value:
      balancer, _, level = pair.partition("/")
      for dtype in _DTYPES.value:
        rows.append(measure(path, balancer, level or "params", dtype))
  print(table(rows, jax.local_devices()[0].device_kind))


if __name__ == "__main__":
  app.run(main)
