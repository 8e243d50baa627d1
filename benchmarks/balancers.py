"""Step time of every balancer as a ratio to EW, at both levels, next to its floor.

    python -m benchmarks.balancers --config=configs/synthetic.py

For the config's model, tasks, image size and global batch on all local devices,
this times ``train.train_step`` (compiled by ``parallel.DataParallel`` with the
state donated, as in training) for every balancer of ``mtl_jax.balancers``:
loss-level methods once (their step is one backward pass of ``sum_t w_t L_t``
whatever the level), gradient methods at ``config.balancer.level = "params"``
and ``"features"``. Each is reported in ms per step, as a ratio to EW's step,
and as a ratio to the measured floor of its level. The floors:

  * measured: EW forced through the per-task gradients (``force_task_grads``)
    at each level: the per-task VJP with the cheapest possible balancer;
  * analytic: the network's forward pass F (losses in training mode), the
    backward pass of the task heads B_h and of the shared encoder B_s are timed
    (as forward, forward + heads' backward, forward + full backward). The
    parameter level needs T backward passes of the shared part:
    ``(F + B_h + T B_s) / (F + B_h + B_s)`` times one forward + backward, i.e.
    EW's step plus ``(T - 1) B_s``; the feature level needs one backward pass,
    i.e. EW's step.

Timing: every program is compiled and run once; then, ``--repeats`` times, each
program runs ``--steps`` steps in turn (side by side, so that drifts of the
machine hit all of them alike) and is waited for with ``jax.block_until_ready``
at the end of its run. Reported: the median over the repeats of the time per step.

Flags:
  --methods=ew,pcgrad,...   balancers (default: all; EW is always timed)
  --levels=params,features  levels for the gradient methods
  --steps=10 --repeats=5    steps per timed run, number of timed runs
  --config.dataset.height=H --config.dataset.width=W --config.input.batch_size=B
                            image size and global batch (any config field works)

A check on a tiny setting (a few minutes on 2 CPU cores, mostly compilation):

    python -m benchmarks.balancers --methods=ew,imtl_g,pcgrad --steps=2 --repeats=2 \\
        --config.dataset.height=16 --config.dataset.width=24 \\
        --config.input.batch_size=8 --config.model.kwargs.widths='(4,8)'

The default setting compiles 32 programs (plus the network's initialisation). On
CPU at XLA's default optimisation level each takes tens of seconds to compile
(random-number code compiles slowly under ``jax_threefry_partitionable``), and
each program runs ``1 + steps * repeats`` steps: expect 30 to 60 minutes on 2
quiet CPU cores (``--steps=5 --repeats=3`` about halves it), minutes on one GPU.
Batches are rendered scenes (``mtl_jax.data.scenes``), so no dataset is built.
"""

import functools
import statistics
import time
from typing import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from absl import app
from absl import flags
from ml_collections import config_flags

from mtl_jax import balancers as balancers_lib
from mtl_jax import build
from mtl_jax import data as data_lib
from mtl_jax import forward
from mtl_jax import parallel
from mtl_jax import task_grads
from mtl_jax import train
from mtl_jax import train_state
from mtl_jax.data import pipeline
from mtl_jax.data import scenes
from mtl_jax.models import partition

PIECES = ("forward", "forward+heads backward", "forward+backward")


def analytic_floor(forward: float, forward_heads_backward: float, forward_backward: float,
                   num_tasks: int) -> float:
  """``(F + B_h + T B_s) / (F + B_h + B_s)``: T backward passes of the shared part.

  Args:
    forward: F, seconds of the forward pass.
    forward_heads_backward: F + B_h, the forward pass and the task heads' backward.
    forward_backward: F + B_h + B_s, the forward pass and the whole backward.
    num_tasks: T.

  Returns:
    The parameter level's floor as a multiple of one forward + backward.

  Example:
    >>> analytic_floor(1.0, 2.0, 4.0, num_tasks=3)  # F = 1, B_h = 1, B_s = 2
    2.0
  """
  shared_backward = forward_backward - forward_heads_backward
  return (forward_heads_backward + num_tasks * shared_backward) / forward_backward


def time_side_by_side(runs: Mapping[str, Callable[[], object]], steps: int,
                      repeats: int) -> dict[str, float]:
  """Median seconds per call of each ``runs[name]()`` (one step; returns its arrays).

  Each is called once first (compilation); then ``repeats`` rounds time
  ``steps`` calls of every run in turn, waiting for the last result.
  """
  for name, run_one in runs.items():
    start = time.perf_counter()
    jax.block_until_ready(run_one())
    print(f"  compiled {name}: {time.perf_counter() - start:.1f} s", flush=True)
  times = {name: [] for name in runs}
  for _ in range(repeats):
    for name, run_one in runs.items():
      start = time.perf_counter()
      for _ in range(steps):
        out = run_one()
      jax.block_until_ready(out)
      times[name].append((time.perf_counter() - start) / steps)
  return {name: statistics.median(t) for name, t in times.items()}


def markdown_table(times: Mapping[str, float], kinds: Mapping[str, str], levels: Sequence[str],
                   analytic: Mapping[str, float]) -> str:
  """The report: ms per step, ratio to EW and to the measured floor, per level.

  Args:
    times: seconds per step: ``"<method>/<level>"`` for gradient methods,
      ``"<method>/loss"`` for loss-level ones, ``"floor/<level>"`` for EW
      through per-task gradients.
    kinds: method -> "loss" or "gradient", in the table's order.
    levels: the levels of the gradient methods.
    analytic: level -> the analytic floor as a multiple of EW's step.

  Example:
    >>> times = {"ew/loss": 0.01, "pcgrad/params": 0.033, "floor/params": 0.03}
    >>> print(markdown_table(times, {"ew": "loss", "pcgrad": "gradient"}, ["params"],
    ...                      {"params": 2.5}))
    | method | kind | params: ms | × EW | × floor |
    |---|---|---:|---:|---:|
    | ew | loss | 10.0 | 1.00 | 0.33 |
    | pcgrad | gradient | 33.0 | 3.30 | 1.10 |
    | floor: EW via per-task gradients | measured | 30.0 | 3.00 | 1.00 |
    | floor: analytic | F, B_h, B_s | 25.0 | 2.50 | 0.83 |
  """
  ew = times["ew/loss"]
  floors = {lv: times[f"floor/{lv}"] for lv in levels}
  lines = ["| method | kind |" + "".join(f" {lv}: ms | × EW | × floor |" for lv in levels),
           "|---|---|" + "---:|---:|---:|" * len(levels)]

  def cells(seconds_of):
    return "".join(f" {seconds_of(lv) * 1e3:.1f} | {seconds_of(lv) / ew:.2f} |"
                   f" {seconds_of(lv) / floors[lv]:.2f} |" for lv in levels)

  for method, kind in kinds.items():
    lines.append(f"| {method} | {kind} |" + cells(
        lambda lv, m=method, k=kind: times[f"{m}/{'loss' if k == 'loss' else lv}"]))
  lines.append("| floor: EW via per-task gradients | measured |" + cells(floors.get))
  lines.append("| floor: analytic | F, B_h, B_s |" + cells(lambda lv: analytic[lv] * ew))
  return "\n".join(lines)


def rendered_batch(config, keys: Sequence[str]) -> dict[str, np.ndarray]:
  """``config.input.batch_size`` rendered synthetic scenes, decoded as the pipeline does."""
  height, width, _ = data_lib.info(config.dataset).image_shape
  examples = [pipeline.decode(scenes.render_example(config.dataset.scene_seed, i, height, width),
                              keys) for i in range(config.input.batch_size)]
  return {k: np.stack([e[k] for e in examples]) for k in keys}


def _network_runs(dp, model, tasks, state, batch):
  """One-call runs of F, F + B_h and F + B_h + B_s (the analytic floor's pieces)."""
  names = [task.name for task in tasks]

  def loss(params, batch_stats, batch):
    preds, _ = model.apply({"params": params, "batch_stats": batch_stats},
                           forward.images_of(batch), train=True, mutable=["batch_stats"])
    terms = [task.loss_terms(preds[task.name], batch) for task in tasks]
    sums = jax.lax.psum(jnp.stack([s for s, _ in terms]), parallel.AXIS)
    counts = jax.lax.psum(jnp.stack([c for _, c in terms]), parallel.AXIS)
    return jnp.sum(sums / jnp.maximum(counts, 1.0))

  def heads_backward(params, batch_stats, batch):
    shared, specific = partition.split(params, names)
    grads = jax.grad(lambda s: loss(partition.merge(shared, s), batch_stats, batch))(specific)
    return jax.lax.psum(grads, parallel.AXIS)

  def full_backward(params, batch_stats, batch):
    return jax.lax.psum(jax.grad(loss)(params, batch_stats, batch), parallel.AXIS)

  args = (dp.replicate(state.params), dp.replicate(state.batch_stats), batch)
  return {name: functools.partial(dp.compile(fn, batch_argnums=(2,)), *args)
          for name, fn in zip(PIECES, (loss, heads_backward, full_backward))}


def run(config, methods: Sequence[str], levels: Sequence[str], steps: int, repeats: int) -> str:
  """Times everything side by side; returns the Markdown report."""
  exp = build.experiment(config, with_data=False)
  tasks, model, tx = exp.tasks, exp.model, exp.tx
  num_tasks = len(tasks)
  dp = parallel.DataParallel(config.parallel.mode, config.parallel.num_devices)
  batch = dp.shard_batch(rendered_batch(config, ["image"] + [task.name for task in tasks]))
  image_shape = data_lib.info(config.dataset).image_shape
  ew = balancers_lib.get("ew", num_tasks=num_tasks)
  base = train_state.create(jax.random.PRNGKey(config.seed), model, tasks, ew, tx,
                                  image_shape)
  shared, _ = partition.split(base.params, [task.name for task in tasks])

  def step_run(balancer, level, force_task_grads=False):
    step = dp.compile(functools.partial(
        train.train_step, model=model, tasks=tasks, balancer=balancer, tx=tx, level=level,
        force_task_grads=force_task_grads), donate_argnums=(0,))
    holder = {"state": dp.replicate(base.replace(balancer_state=balancer.init(shared)))}

    def one_step():
      holder["state"], metrics = step(holder["state"], batch)
      return holder["state"], metrics
    return one_step

  runs, kinds = _network_runs(dp, model, tasks, base, batch), {}
  for method in ["ew"] + [m for m in methods if m != "ew"]:
    kwargs = dict(config.balancer.kwargs) if method == config.balancer.name else {}
    balancer = balancers_lib.get(method, num_tasks=num_tasks, **kwargs)
    kinds[method] = "gradient" if balancer.needs_task_grads else "loss"
    if balancer.needs_task_grads:
      for level in levels:
        runs[f"{method}/{level}"] = step_run(balancer, level)
    else:
      runs[f"{method}/loss"] = step_run(balancer, "params")
  for level in levels:
    runs[f"floor/{level}"] = step_run(ew, level, force_task_grads=True)

  print(f"devices: {dp.num_devices} x {jax.devices()[0].platform} ({dp.mode}); model"
        f" {config.model.name} {dict(config.model.kwargs)}; {num_tasks} tasks; images"
        f" {image_shape[0]}x{image_shape[1]}; global batch {config.input.batch_size};"
        f" {len(runs)} programs; {steps} steps x {repeats} repeats", flush=True)
  start = time.perf_counter()
  times = time_side_by_side(runs, steps, repeats)
  forward, heads, whole = (times[name] for name in PIECES)
  # As multiples of EW's step: plus (T - 1) shared backward passes, or nothing.
  extra = {"params": (num_tasks - 1) * (whole - heads), "features": 0.0}
  analytic = {lv: 1.0 + extra[lv] / times["ew/loss"] for lv in levels}
  network = ", ".join(f"{name} {times[name] * 1e3:.1f} ms" for name in PIECES)
  return (f"{markdown_table(times, kinds, levels, analytic)}\n\n"
          f"Network alone: {network}; (F + B_h + T B_s) / (F + B_h + B_s) ="
          f" {analytic_floor(forward, heads, whole, num_tasks):.2f}. Analytic floors: EW's step"
          f" plus (T - 1) B_s (parameter level) or plus nothing (feature level).\n"
          f"Timed in {time.perf_counter() - start:.0f} s.")


def main(argv, flag_values, run_fn=run):
  """Checks ``--methods`` and ``--levels``, then prints ``run_fn(config, methods, levels, ...)``."""
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  methods = [m for m in flag_values["methods"].value.split(",") if m]
  levels = [lv for lv in flag_values["levels"].value.split(",") if lv]
  unknown = sorted(set(methods) - set(balancers_lib.REGISTRY))
  if unknown:
    raise app.UsageError(f"--methods: unknown {unknown}; known: {sorted(balancers_lib.REGISTRY)}")
  if not levels or set(levels) - set(task_grads.LEVELS):
    raise app.UsageError(f"--levels: got {levels}; choose from {task_grads.LEVELS}")
  print(run_fn(flag_values["config"].value, methods, levels, flag_values["steps"].value,
               flag_values["repeats"].value))


def define_flags(steps: int = 10, steps_help: str = "Steps per timed run."):
  """The script's flags (defined only when it runs, so importing the module defines none)."""
  return {
      "config": config_flags.DEFINE_config_file("config", "configs/synthetic.py", "Config file."),
      "methods": flags.DEFINE_string("methods", ",".join(balancers_lib.REGISTRY),
                                     "Comma-separated balancer names."),
      "levels": flags.DEFINE_string("levels", ",".join(task_grads.LEVELS),
                                    "Comma-separated levels for the gradient methods."),
      "steps": flags.DEFINE_integer("steps", steps, steps_help),
      "repeats": flags.DEFINE_integer("repeats", 5, "Timed runs (the median is reported)."),
  }


if __name__ == "__main__":
  app.run(functools.partial(main, flag_values=define_flags()))
