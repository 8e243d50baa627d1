"""Training throughput of a config, next to its floors, measured side by side.

    python -m benchmarks.train_throughput --config=configs/synthetic.py

Reports, for the config's model, tasks and global batch on all local devices:
  * floor: the network's forward + backward of the summed task losses (one
    ``jax.grad``, no optimizer, no balancer, no collectives);
  * step: the full training step (``train.train_step``: the balancer's path,
    the optimizer, batch-norm statistics, cross-device sums);
  * step_per_task: the same step forced through per-task gradients (one vmapped
    VJP over the T tasks) with the same balancer, to show that path's cost;
  * input: batches per second delivered by the grain pipeline alone;
  * end_to_end: steps per second of the training loop fed by the pipeline.
Each is timed after a warm-up, as the median of repeats; ratios are to the floor.
"""

import functools
import statistics
import time

import jax
import jax.numpy as jnp
from absl import app
from absl import flags
from ml_collections import config_flags

from mtl_jax import build
from mtl_jax import data as data_lib
from mtl_jax import forward
from mtl_jax import parallel
from mtl_jax import train
from mtl_jax import train_state
from mtl_jax.data import pipeline

_CONFIG = config_flags.DEFINE_config_file("config", "configs/synthetic.py", "Config file.")
_STEPS = flags.DEFINE_integer("steps", 20, "Timed steps per repeat.")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Repeats (the median is reported).")


def _time(fn, steps, repeats):
  """Median seconds per call of ``fn`` (which must block on its result)."""
  fn()  # Compile and warm up.
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    for _ in range(steps):
      fn()
    times.append((time.perf_counter() - start) / steps)
  return statistics.median(times)


def main(argv):
  del argv
  config = _CONFIG.value
  exp = build.experiment(config, with_data=False)
  tasks, model, balancer, tx = exp.tasks, exp.model, exp.balancer, exp.tx
  dp = parallel.DataParallel(config.parallel.mode, config.parallel.num_devices)
  source = data_lib.prepare(config.dataset)
  keys = build.input_keys(tasks)
  batch_size = config.input.batch_size
  it = pipeline.train_iterator(source.train, config.input, keys=keys, seed=0,
                               batch_size=batch_size)
  host_batch = next(it)
  state = train_state.create(jax.random.PRNGKey(0), model, tasks, balancer, tx,
                                   source.image_shape)
  results = {}

  # Floor: forward + backward of the summed losses, on one global batch.
  if hasattr(model, "network"):  # A wrapper (models.WRAPPERS): unsynchronise the network.
    floor_model = model.clone(network=model.network.clone(axis_name=None))
  else:
    floor_model = model.clone(axis_name=None)
  batch = jax.device_put(host_batch)

  @jax.jit
  def grad_of_sum(params, batch_stats, batch):
    def loss(params):
      preds, _ = floor_model.apply({"params": params, "batch_stats": batch_stats},
                                   forward.images_of(batch), train=True, mutable=["batch_stats"])
      total = 0.0
      for task in tasks:
        s, c = task.loss_terms(preds[task.name], batch)
        total += jnp.sum(s / jnp.maximum(c, 1.0))  # Several terms: sum_k s_k / c_k.
      return total
    return jax.grad(loss)(params)

  results["floor"] = _time(
      lambda: jax.block_until_ready(grad_of_sum(state.params, state.batch_stats, batch)),
      _STEPS.value, _REPEATS.value)

  for name, force in (("step", False), ("step_per_task", True)):
    step = dp.compile(functools.partial(
        train.train_step, model=model, tasks=tasks, balancer=balancer, tx=tx,
        level=config.balancer.level, force_task_grads=force), donate_argnums=(0,))
    holder = {"state": dp.replicate(state)}
    sharded = dp.shard_batch(host_batch)

    def run_step(step=step, holder=holder, sharded=sharded):
      holder["state"], metrics = step(holder["state"], sharded)
      jax.block_until_ready(metrics)
    results[name] = _time(run_step, _STEPS.value, _REPEATS.value)

  results["input"] = _time(lambda: next(it), _STEPS.value, _REPEATS.value)

  step = dp.compile(functools.partial(
      train.train_step, model=model, tasks=tasks, balancer=balancer, tx=tx,
      level=config.balancer.level), donate_argnums=(0,))
  holder = {"state": dp.replicate(state)}

  def loop_step():
    holder["state"], metrics = step(holder["state"], dp.shard_batch(next(it)))
    return metrics
  last = [None]

  def loop_block():
    last[0] = loop_step()
    jax.block_until_ready(last[0])
  # Blocking every step hides the overlap of input and compute the real loop
  # gets; time a run of un-blocked steps instead.
  loop_block()

  def loop_run():
    for _ in range(_STEPS.value):
      last[0] = loop_step()
    jax.block_until_ready(last[0])
  results["end_to_end"] = _time(loop_run, 1, _REPEATS.value) / _STEPS.value

  print(f"devices: {dp.num_devices} x {jax.devices()[0].platform}, mode {dp.mode},"
        f" model {config.model.name}, tasks {len(tasks)}, balancer {config.balancer.name},"
        f" global batch {batch_size}, images {source.image_shape}")
  print(f"{'measure':<14}{'ms/step':>10}{'img/s':>10}{'x floor':>9}")
  for name, seconds in results.items():
    print(f"{name:<14}{seconds * 1e3:>10.1f}{batch_size / seconds:>10.1f}"
          f"{seconds / results['floor']:>9.2f}")


if __name__ == "__main__":
  app.run(main)
