"""The training step and the loop: ``train_and_evaluate(config, workdir)``.

``train_step`` is per-device code written once with collectives over
``parallel.AXIS``; ``parallel.DataParallel`` runs it under ``jax.pmap`` or
``jax.shard_map``. The step takes this step's gradients from
``task_grads.gradients`` (the one place per-task gradients are computed),
applies the optimizer and returns the new state with the losses and task
weights. The loop around it builds everything once (``build.experiment``),
records the run (``run_record``), resumes from the newest checkpoint,
evaluates (``evaluate``) and writes the metrics (``summary``, ``protocol``).
"""

import functools
from typing import Any, Optional, Sequence

import jax
import ml_collections
import numpy as np
import optax
from absl import logging

from mtl_jax import baselines as baselines_lib
from mtl_jax import build
from mtl_jax import checkpoint as checkpoint_lib
from mtl_jax import epochs
from mtl_jax import evaluate as evaluate_lib
from mtl_jax import parallel
from mtl_jax import preemption
from mtl_jax import progress as progress_lib
from mtl_jax import protocol
from mtl_jax import run_record
from mtl_jax import summary
from mtl_jax import task_grads
from mtl_jax import train_state as train_state_lib
from mtl_jax.data import pipeline
from mtl_jax.train_state import TrainState


def train_step(state: TrainState, batch, *, model, tasks: Sequence[Any], balancer,
               tx: optax.GradientTransformation, level: str = "params",
               force_task_grads: bool = False, axis_name: str = parallel.AXIS):
  """One update on the global batch (per-device code; collectives over ``axis_name``).

  Args:
    state: the replicated ``TrainState``.
    batch: this device's examples: ``image`` uint8 ``[b, H, W, 3]`` and each
      task's ground truth under its name.
    model: a network from ``mtl_jax.models`` built with ``axis_name``.
    tasks: the tasks, in the order of the task axis.
    balancer: a ``mtl_jax.balancers.Balancer``.
    tx: the optax optimizer.
    level: "params" or "features" (where per-task gradients are taken).
    force_task_grads: route a loss-level balancer through per-task gradients.
    axis_name: the data-parallel axis.

  Returns:
    ``(new_state, metrics)`` with ``metrics["loss/<task>"]`` (global-batch mean
    losses) and ``metrics["weight/<task>"]`` (the balancer's task weights).
  """
  key = jax.random.fold_in(state.rng, state.step)
  batch = {**batch, "step": state.step}  # For losses with a schedule (tasks.base).
  out = task_grads.gradients(state, batch, model=model, tasks=tasks, balancer=balancer,
                             key=key, level=level, force_task_grads=force_task_grads,
                             axis_name=axis_name)
  updates, opt_state = tx.update(out.grads, state.opt_state, state.params)
  new_state = state.replace(
      step=state.step + 1, params=optax.apply_updates(state.params, updates),
      batch_stats=out.batch_stats, opt_state=opt_state, balancer_state=out.balancer_state)
  metrics = {}
  for i, task in enumerate(tasks):
    metrics[f"loss/{task.name}"] = out.losses[i]
    metrics[f"weight/{task.name}"] = out.balancer_state.weights[i]
  return new_state, metrics


def _state_target(exp: build.Experiment) -> TrainState:
  """The train state's structure and types, as host arrays of zeros (a restore target)."""
  target = jax.eval_shape(lambda: train_state_lib.create(
      jax.random.PRNGKey(exp.config.seed), exp.model, exp.tasks, exp.balancer, exp.tx,
      exp.info.image_shape))
  return jax.tree_util.tree_map(lambda s: np.zeros(s.shape, s.dtype), target)


def restore(workdir: str, step: Optional[int] = None):
  """``(tasks, model, state)`` of the run in ``workdir``, from its recorded config.json.

  ``step``: the checkpoint (default: the newest). For inspecting a trained
  network, e.g. in a notebook::

    tasks, model, state = train.restore(workdir)
    preds = model.apply({"params": state.params, "batch_stats": state.batch_stats},
                        images, train=False)
  """
  exp = build.experiment(run_record.load(workdir), with_data=False)
  checkpointer = checkpoint_lib.Checkpointer(f"{workdir}/checkpoints")
  try:
    state, _ = checkpointer.restore(_state_target(exp), step)
  finally:
    checkpointer.close()
  return exp.tasks, exp.model, state


def _check_finite(step: int, values: dict[str, float]) -> None:
  bad = {k: v for k, v in values.items() if not np.isfinite(v)}
  if bad:
    raise FloatingPointError(
        f"non-finite training values at step {step}: {bad}. Lower"
        " config.optimizer.learning_rate or set config.optimizer.grad_clip_norm;"
        " the last good checkpoint is kept in the workdir.")


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
  """Trains, evaluates and checkpoints; resumes from ``workdir`` if it holds a checkpoint.

  Returns the final evaluation's metrics (``"<task>/<metric>"`` keys, and
  ``"delta_m"`` when there are single-task baselines); for a run that had
  already finished, those of its last evaluation. ``workdir/final.json`` holds
  the last evaluation and the mean of the last ``config.eval.summary_window``
  (see ``mtl_jax.protocol``); ``workdir/config.json`` the resolved config
  (``run_record``).
  """
  exp = build.experiment(config)
  config, tasks, model = exp.config, exp.tasks, exp.model
  logging.info("Schedule: %s", epochs.describe(config, len(exp.source.train)))
  dp = parallel.DataParallel(config.parallel.mode, config.parallel.num_devices)
  keys = exp.input_keys
  train_iter = pipeline.train_iterator(
      exp.source.train, config.input, keys=keys, seed=config.seed,
      batch_size=config.input.batch_size // jax.process_count(),
      shard_index=jax.process_index(), shard_count=jax.process_count())

  checkpointer = checkpoint_lib.Checkpointer(f"{workdir}/checkpoints",
                                             config.checkpoint.max_to_keep)
  resuming = checkpointer.latest_step() is not None
  try:
    run_record.record(workdir, config, resuming)
  except Exception:
    checkpointer.close()
    raise
  state = train_state_lib.create(jax.random.PRNGKey(config.seed), model, tasks, exp.balancer,
                                 exp.tx, exp.info.image_shape)
  writer = summary.MetricWriter(workdir)
  report = protocol.Report(writer, exp.baselines, exp.higher_is_better,
                           config.eval.summary_window,
                           baselines_lib.describe(config.eval.single_task_baselines))
  if resuming:
    state, data_state = checkpointer.restore(state)
    train_iter.set_state(data_state["iterator"].encode())
    logging.warning("Resuming from step %d in %s", int(state.step), workdir)
  start = int(state.step)
  writer.truncate_after(start)
  report.refresh()

  step_fn = dp.compile(functools.partial(
      train_step, model=model, tasks=tasks, balancer=exp.balancer, tx=exp.tx,
      level=config.balancer.level, force_task_grads=config.balancer.force_task_grads),
      donate_argnums=(0,))
  scales, fusions = build.eval_scales_and_fusions(config)
  eval_fn = dp.compile(functools.partial(evaluate_lib.eval_step, model=model, tasks=tasks,
                                         scales=scales, fusions=fusions,
                                         per_batch_size=config.eval.get("per_batch_size", 2)))
  accumulator_keys = evaluate_lib.eval_keys(tasks, model, fusions,
                                            config.eval.get("protocol", "split"))

  def evaluation(state_r):
    batches = pipeline.eval_batches(
        exp.source.eval, keys=keys,
        batch_size=config.input.eval_batch_size // jax.process_count(),
        shard_index=jax.process_index(), shard_count=jax.process_count(),
        max_batches=config.eval.max_batches)
    return evaluate_lib.evaluate(eval_fn, state_r, batches, dp, tasks, accumulator_keys)

  def save(step):
    checkpointer.save(step, dp.unreplicate(state_r),
                      {"iterator": train_iter.get_state().decode()})

  num_steps = config.schedule.num_steps
  state_r = dp.replicate(state)
  results = writer.last_evaluation()
  pending = []  # Per-step metrics still on device, read every log_every steps.
  progress = progress_lib.Progress(start, num_steps, config.input.batch_size)
  try:
    if start == 0 and config.eval.at_start:
      results = report.record(0, evaluation(state_r))
    with preemption.StopOnSignal() as stop:
      for step in range(start + 1, num_steps + 1):
        batch = next(train_iter)
        state_r, step_metrics = step_fn(state_r, dp.shard_batch(batch))
        pending.append((step, step_metrics))
        is_last = step == num_steps
        if step % config.schedule.log_every == 0 or is_last or stop.requested:
          _flush(pending, dp, writer, progress)
        if step % config.schedule.checkpoint_every == 0 or is_last or stop.requested:
          _flush(pending, dp, writer, progress)
          save(step)
        if step % config.eval.every_steps == 0 or is_last:
          results = report.record(step, evaluation(state_r))
          progress.write(f"step {step}: " + ", ".join(
              f"{k} {v:.4g}" for k, v in results.items()))
        if stop.requested:
          raise KeyboardInterrupt(f"stopped by signal at step {step}; checkpoint saved")
  finally:
    progress.close()
    checkpointer.close()
    writer.close()
  return results


def _flush(pending, dp, writer, progress) -> None:
  """Reads pending step metrics (the host sync), checks them, logs them."""
  if not pending:
    return
  host = jax.device_get([(step, dp.unreplicate(m)) for step, m in pending])
  pending.clear()
  for step, values in host:
    values = {k: float(v) for k, v in values.items()}
    _check_finite(step, values)
  writer.scalars(step, values)
  progress.update(step, values)
