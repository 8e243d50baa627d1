"""Each balancer's own cost: its jitted ``update`` alone, on gradients of the network's size.

    python -m benchmarks.balancer_updates --config=configs/synthetic.py

``benchmarks/balancers.py`` times whole training steps, where a balancer's own
work is a small share of the step and the step's noise hides it. This script
times only ``balancer.update(task_grads, state, task_losses=..., key=...)``
(compiled with ``jax.jit``) on random per-task gradients shaped as the
config's network produces them for the balancer:

  * ``params``: the shared parameters, ``[T, ...]`` per leaf;
  * ``features``: the shared representation (the output of ``encode``) for
    the global batch, ``[T, B, ...]`` per leaf (the training step gathers
    every device's examples before the balancer sees them).

Reported: ms per update (median over the repeats, timed side by side as in
``benchmarks/balancers.py``) and as a multiple of EW's update (one weighted
sum of the task axis, the least any method does).

Flags:
  --methods=ew,pcgrad,...   balancers (default: all; EW is always timed)
  --levels=params,features  which gradients
  --steps=20 --repeats=5    calls per timed run, number of timed runs
  --config.model.kwargs.widths='(4,8)' ...   any config field

Each method compiles once per level (a few seconds each on CPU).
"""

import functools
from typing import Any, Sequence

import jax
import jax.numpy as jnp
from absl import app

from benchmarks import balancers as step_bench
from mtl_jax import balancers as balancers_lib
from mtl_jax import build
from mtl_jax import data as data_lib
from mtl_jax import parallel
from mtl_jax import train_state
from mtl_jax.models import partition


def gradient_shapes(config) -> dict[str, Any]:
  """``{"params": shared-parameter shapes, "features": representation shapes}`` (no task axis)."""
  exp = build.experiment(config, with_data=False)
  tasks, model, balancer, tx = exp.tasks, exp.model, exp.balancer, exp.tx
  image_shape = data_lib.info(config.dataset).image_shape
  state = jax.eval_shape(lambda: train_state.create(
      jax.random.PRNGKey(0), model, tasks, balancer, tx, image_shape))
  shared, _ = partition.split(state.params, [task.name for task in tasks])
  # The global batch, under a named axis of size 1 (the networks' batch norm
  # averages its statistics over the data-parallel axis).
  images = jax.ShapeDtypeStruct((1, config.input.batch_size, *image_shape), jnp.float32)

  def encode(params, batch_stats, images):
    return jax.vmap(lambda x: model.apply(
        {"params": params, "batch_stats": batch_stats}, x, train=True,
        mutable=["batch_stats"], method="encode")[0], axis_name=parallel.AXIS)(images)

  representation = jax.tree_util.tree_map(
      lambda s: jax.ShapeDtypeStruct(s.shape[1:], s.dtype),
      jax.eval_shape(encode, state.params, state.batch_stats, images))
  return {"params": shared, "features": representation}


def random_task_grads(shapes: Any, num_tasks: int, key: jax.Array) -> Any:
  """Standard normal ``[T, ...]`` leaves for a tree of shapes."""
  leaves, treedef = jax.tree_util.tree_flatten(shapes)
  keys = jax.random.split(key, max(len(leaves), 1))
  return jax.tree_util.tree_unflatten(treedef, [
      jax.random.normal(k, (num_tasks, *s.shape), jnp.float32) for k, s in zip(keys, leaves)])


def markdown_table(times: dict[str, float], methods: Sequence[str], levels: Sequence[str],
                   floats: dict[str, int]) -> str:
  """ms per update and the multiple of EW's, per level.

  Example:
    >>> print(markdown_table({"ew/params": 0.001, "mgda/params": 0.003}, ["ew", "mgda"],
    ...                      ["params"], {"params": 1000}))
    | method | params: ms | × EW |
    |---|---:|---:|
    | ew | 1.00 | 1.00 |
    | mgda | 3.00 | 3.00 |
    <BLANKLINE>
    Floats per task: params 1,000.
  """
  lines = ["| method |" + "".join(f" {lv}: ms | × EW |" for lv in levels),
           "|---|" + "---:|---:|" * len(levels)]
  for method in methods:
    lines.append(f"| {method} |" + "".join(
        f" {times[f'{method}/{lv}'] * 1e3:.2f} | {times[f'{method}/{lv}'] / times[f'ew/{lv}']:.2f} |"
        for lv in levels))
  sizes = ", ".join(f"{lv} {floats[lv]:,}" for lv in levels)
  return "\n".join(lines) + f"\n\nFloats per task: {sizes}."


def run(config, methods: Sequence[str], levels: Sequence[str], steps: int, repeats: int) -> str:
  """Times every method's update at every level side by side; returns the Markdown report."""
  num_tasks = len(config.tasks.names)
  shapes = gradient_shapes(config)
  losses = jnp.linspace(0.5, 2.0, num_tasks)
  key = jax.random.PRNGKey(config.seed)
  methods = ["ew"] + [m for m in methods if m != "ew"]
  runs, floats = {}, {}
  for level in levels:
    task_grads = random_task_grads(shapes[level], num_tasks, key)
    floats[level] = sum(leaf[0].size for leaf in jax.tree_util.tree_leaves(task_grads))
    for method in methods:
      kwargs = dict(config.balancer.kwargs) if method == config.balancer.name else {}
      balancer = balancers_lib.get(method, num_tasks=num_tasks, **kwargs)
      state = balancer.init(jax.tree_util.tree_map(lambda g: g[0], task_grads))
      update = jax.jit(functools.partial(balancer.update, task_losses=losses))
      runs[f"{method}/{level}"] = functools.partial(update, task_grads, state, key=key)
  print(f"{jax.devices()[0].platform}; model {config.model.name}"
        f" {dict(config.model.kwargs)}; {num_tasks} tasks; {len(runs)} programs;"
        f" {steps} calls x {repeats} repeats", flush=True)
  times = step_bench.time_side_by_side(runs, steps, repeats)
  return markdown_table(times, methods, levels, floats)


if __name__ == "__main__":
  app.run(functools.partial(
      step_bench.main, run_fn=run,
      flag_values=step_bench.define_flags(steps=20, steps_help="Calls per timed run.")))
