"""Does the NYUv2 input pipeline keep up? Its batches per second next to the training step's.

    python -m benchmarks.input_pipeline --config=configs/nyuv2_hps.py

Fabricates an NYUv2 release in the MTAN layout at the config's size (288x384:
``{train,val}/{image,label,depth,normal}/<i>.npy``, random values) once into a
temporary directory (or ``--work_dir``, reused when run again), builds the tfds
dataset from it with the library's builder, and reports on this machine:

  * per example, outside the pipeline: milliseconds to read and decode one
    record, and to augment it (``augment.random_scale_crop`` then
    ``random_flip`` with the config's scales), each the mean over the train
    split, three times;
  * input: batches per second of ``pipeline.train_iterator`` over the train
    split with the config's batch and augmentation (random scale-crop, flip)
    for each ``--workers`` count (grain worker processes), and without
    augmentation for reference; measured after a warm-up batch, over
    ``--batches`` batches;
  * step: seconds per training step of the config (its model, tasks,
    balancer and batch, on all local devices), the median of ``--steps``
    steps after the compiling one;

and how many steps per second the pipeline could feed. Run without XLA_FLAGS
(the tests' optimisation level 0 makes the step slower). Field-sized networks
on CPU are slow: ``--steps=2`` keeps the run short.
"""

import functools
import os
import statistics
import tempfile
import time

import jax
import numpy as np
from absl import app
from absl import flags
from ml_collections import config_flags

from mtl_jax import build
from mtl_jax import data as data_lib
from mtl_jax import parallel
from mtl_jax import train
from mtl_jax import train_state
from mtl_jax.data import augment
from mtl_jax.data import nyuv2
from mtl_jax.data import pipeline

_CONFIG = config_flags.DEFINE_config_file("config", "configs/nyuv2_hps.py", "Config file.")
_EXAMPLES = flags.DEFINE_integer("examples", 32, "Fabricated train examples (val: a quarter).")
_BATCHES = flags.DEFINE_integer("batches", 40, "Timed batches per pipeline setting.")
_WORKERS = flags.DEFINE_list("workers", ["0", "2"], "grain worker counts to time.")
_STEPS = flags.DEFINE_integer("steps", 3, "Timed training steps (0: skip the step).")
_WORK_DIR = flags.DEFINE_string("work_dir", None, "Keep the fabricated files and tfds data here.")


def fabricate(root: str, height: int, width: int, num_train: int, seed: int = 0) -> None:
  """Random files in the release layout (skipped if ``root/val/normal`` exists)."""
  if os.path.isdir(os.path.join(root, "val", "normal")):
    return
  rng = np.random.default_rng(seed)
  for split, n in (("train", num_train), ("val", max(1, num_train // 4))):
    for i in range(n):
      normal = rng.normal(size=(height, width, 3)).astype(np.float32)
      arrays = {
          "image": rng.uniform(0, 1, (height, width, 3)).astype(np.float32),
          "label": rng.integers(-1, nyuv2.NUM_CLASSES, (height, width)).astype(np.float32),
          "depth": rng.uniform(0.5, 10, (height, width, 1)).astype(np.float32),
          "normal": normal / np.linalg.norm(normal, axis=-1, keepdims=True),
      }
      for name, array in arrays.items():
        os.makedirs(os.path.join(root, split, name), exist_ok=True)
        np.save(os.path.join(root, split, name, f"{i}.npy"), array)


def _per_example_ms(source, keys, scales, rounds: int = 3) -> tuple[float, float]:
  """Mean milliseconds to read + decode one record, and to augment it."""
  read, augmented = [], []
  rng = np.random.default_rng(0)
  for _ in range(rounds):
    for i in range(len(source)):
      t0 = time.perf_counter()
      example = pipeline.decode(source[i], keys)
      t1 = time.perf_counter()
      augment.random_flip(augment.random_scale_crop(example, rng, scales), rng)
      t2 = time.perf_counter()
      read.append(t1 - t0)
      augmented.append(t2 - t1)
  return 1e3 * statistics.mean(read), 1e3 * statistics.mean(augmented)


def _rate(iterator, count: int) -> float:
  """Items per second drawn from ``iterator`` after one warm-up item."""
  next(iterator)
  start = time.perf_counter()
  for _ in range(count):
    next(iterator)
  return count / (time.perf_counter() - start)


def main(argv):
  del argv
  config = _CONFIG.value.copy_and_resolve_references()
  if config.dataset.name != "nyuv2":
    raise app.UsageError(f"an NYUv2 config is needed, got dataset {config.dataset.name!r}")
  work_dir = _WORK_DIR.value or tempfile.mkdtemp(prefix="nyuv2_bench_")
  height, width = data_lib.info(config.dataset).image_shape[:2]
  start = time.perf_counter()
  fabricate(os.path.join(work_dir, "manual"), height, width, _EXAMPLES.value)
  config.dataset.manual_dir = os.path.join(work_dir, "manual")
  config.dataset.data_dir = os.path.join(work_dir, "tfds")
  source = data_lib.prepare(config.dataset)
  print(f"fabricated and built {len(source.train)} + {len(source.eval)} examples at"
        f" {height}x{width} in {work_dir} ({time.perf_counter() - start:.0f} s)")

  exp = build.experiment(config, with_data=False)
  tasks, model, balancer, tx = exp.tasks, exp.model, exp.balancer, exp.tx
  keys = ["image"] + [t.name for t in tasks]
  batch = config.input.batch_size
  print(f"NYUv2 {height}x{width}, global batch {batch}, {os.cpu_count()} CPUs, devices"
        f" {jax.device_count()} x {jax.devices()[0].platform}, load average"
        f" {os.getloadavg()[0]:.1f}")
  read_ms, augment_ms = _per_example_ms(source.train, keys, tuple(config.input.scales))
  print(f"per example, in this process: read + decode {read_ms:.1f} ms, augment"
        f" {augment_ms:.1f} ms (means)")
  print(f"{'measure':<40}{'batches/s':>10}{'images/s':>10}", flush=True)
  best = 0.0
  for augmenting in (True, False):
    for workers in map(int, _WORKERS.value if augmenting else ["0"]):
      input_config = config.input.copy_and_resolve_references()
      input_config.augment, input_config.worker_count = augmenting, workers
      iterator = pipeline.train_iterator(source.train, input_config, keys=keys, seed=0,
                                         batch_size=batch)
      rate = _rate(iterator, _BATCHES.value)
      iterator.close()
      if augmenting:
        best = max(best, rate)
      what = f"input, {'augmented' if augmenting else 'no augmentation'}, {workers} workers"
      print(f"{what:<40}{rate:>10.2f}{rate * batch:>10.1f}", flush=True)

  if not _STEPS.value:
    return
  dp = parallel.DataParallel(config.parallel.mode, config.parallel.num_devices)
  state = dp.replicate(train_state.create(
      jax.random.PRNGKey(0), model, tasks, balancer, tx, source.image_shape))
  step = dp.compile(functools.partial(
      train.train_step, model=model, tasks=tasks, balancer=balancer, tx=tx,
      level=config.balancer.level), donate_argnums=(0,))
  iterator = pipeline.train_iterator(source.train, config.input, keys=keys, seed=0,
                                     batch_size=batch)
  times = []
  for i in range(_STEPS.value + 1):  # The first one compiles.
    sharded = dp.shard_batch(next(iterator))
    t0 = time.perf_counter()
    state, metrics = step(state, sharded)
    jax.block_until_ready(metrics)
    times.append(time.perf_counter() - t0)
    what = "train step, compile + run" if i == 0 else f"train step {i}"
    print(f"{what:<40}{1 / times[-1]:>10.3f}{batch / times[-1]:>10.2f}"
          f"   {times[-1]:.2f} s", flush=True)
  seconds = statistics.median(times[1:])
  print(f"train step ({config.model.name}, {config.balancer.name}): median {seconds:.2f} s;"
        f" the augmented pipeline feeds {best * seconds:.1f}x the steps this machine trains"
        " per second")


if __name__ == "__main__":
  app.run(main)
