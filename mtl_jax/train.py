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

import contextlib
import errno
import functools
import json
import os
import shutil
from typing import Any, Optional, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl import logging

from mtl_jax import backbone
from mtl_jax import baselines as baselines_lib
from mtl_jax import build
from mtl_jax import checkpoint as checkpoint_lib
from mtl_jax import epochs
from mtl_jax import evaluate as evaluate_lib
from mtl_jax import forward
from mtl_jax import optim
from mtl_jax import panels
from mtl_jax import parameter_table
from mtl_jax import parallel
from mtl_jax import preemption
from mtl_jax import progress as progress_lib
from mtl_jax import protocol
from mtl_jax import run_record
from mtl_jax import summary
from mtl_jax import task_grads
from mtl_jax import train_state as train_state_lib
from mtl_jax import workdir_lock
from mtl_jax.data import pipeline
from mtl_jax.train_state import TrainState

# With config.optimizer.skip_nonfinite, the run stops after this many skipped steps in a row.
MAX_SKIPS_IN_A_ROW = 10


def train_step(state: TrainState, batch, *, model, tasks: Sequence[Any], balancer,
               tx: optax.GradientTransformation, level: str = "params",
               force_task_grads: bool = False, shard_task_grads: bool = False,
               skip_nonfinite: bool = False, dtype=None, axis_name: str = parallel.AXIS):
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
    shard_task_grads: at the parameter level, each device holds the summed
      per-task gradients of a ``1 / D`` share of the shared parameters
      (loss-level and Gramian methods; ``task_grads.gradients``).
    skip_nonfinite: a step whose losses, gradients or new state hold a NaN or
      an inf keeps the whole state as it was (parameters, batch statistics,
      optimizer and balancer state; the step still advances) and reports
      ``metrics["skipped"] = 1``.
    dtype: the compute dtype of the forward and backward passes
      (``config.model.dtype``; None: float32). Parameters, optimizer and
      balancer state, batch statistics, losses and Gramians stay float32.
    axis_name: the data-parallel axis.

  Returns:
    ``(new_state, metrics)`` with ``metrics["loss/<task>"]`` (global-batch mean
    losses) and ``metrics["weight/<task>"]`` (the balancer's task weights).
  """
  key = jax.random.fold_in(state.rng, state.step)
  batch = {**batch, "step": state.step}  # For losses with a schedule (tasks.base).
  out = task_grads.gradients(state, batch, model=model, tasks=tasks, balancer=balancer,
                             key=key, level=level, force_task_grads=force_task_grads,
                             shard_task_grads=shard_task_grads, dtype=dtype,
                             axis_name=axis_name)
  updates, opt_state = tx.update(out.grads, state.opt_state, state.params)
  new_state = state.replace(
      step=state.step + 1, params=optax.apply_updates(state.params, updates),
      batch_stats=out.batch_stats, opt_state=opt_state, balancer_state=out.balancer_state)
  metrics = {}
  for i, task in enumerate(tasks):
    metrics[f"loss/{task.name}"] = out.losses[i]
    metrics[f"weight/{task.name}"] = out.balancer_state.weights[i]
  if skip_nonfinite:
    new_state, metrics["skipped"] = _keep_if_finite(new_state, state, (out.losses, out.grads),
                                                    axis_name)
  return new_state, metrics


def _all_finite(tree) -> jax.Array:
  leaves = [jnp.all(jnp.isfinite(x)) for x in map(jnp.asarray, jax.tree_util.tree_leaves(tree))
            if jnp.issubdtype(x.dtype, jnp.inexact)]
  return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


def _keep_if_finite(new_state: TrainState, state: TrainState, step_values, axis_name: str):
  """``new_state`` if it and ``step_values`` are finite on every device, else ``state``
  with its step advanced; and 1.0 for a skipped step (0.0 otherwise)."""
  finite = _all_finite((step_values, new_state.params, new_state.batch_stats,
                        new_state.opt_state, new_state.balancer_state))
  # Devices agree: a NaN in one device's batch statistics skips the step everywhere.
  finite = jax.lax.pmin(parallel.varying(finite.astype(jnp.int32), axis_name), axis_name) > 0
  kept = jax.tree_util.tree_map(lambda new, old: jnp.where(finite, new, old), new_state, state)
  return kept.replace(step=new_state.step), 1.0 - finite.astype(jnp.float32)


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
  exp, state = restore_experiment(workdir, step)
  return exp.tasks, exp.model, state


def restore_experiment(workdir: str, step: Optional[int] = None):
  """``(build.Experiment, TrainState)`` of the run in ``workdir`` (see ``restore``)."""
  exp = build.experiment(run_record.load(workdir), with_data=False)
  checkpointer = checkpoint_lib.Checkpointer(f"{workdir}/checkpoints")
  try:
    state, _ = checkpointer.restore(_state_target(exp), step)
  finally:
    checkpointer.close()
  return exp, state


class OutOfSpace(RuntimeError):
  """The workdir's disk (or quota) is full; the message names the file, the free space and
  the checkpoint a rerun resumes from."""


_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def _out_of_space(e: OSError, checkpointer, workdir: str) -> Exception:
  try:
    checkpointer.wait()  # Seals the save in flight, so the hint can say it is verified.
  except checkpoint_lib.CheckpointError as failed:
    return failed  # That save did not fit either: its message says which is intact.
  try:
    free = f"{shutil.disk_usage(workdir).free / 2**20:.1f} MiB free"
  except OSError:
    free = "free space unknown"
  return OutOfSpace(f"could not write {e.filename or workdir}: {e.strerror} ({free});"
                    f" {_resume_hint(checkpointer, workdir, change_lr=False)}")


def _resume_hint(checkpointer, workdir: str, change_lr: bool = True) -> str:
  latest = checkpointer.latest_step()
  if latest is None:
    return "no checkpoint was written before it"
  step_dir = checkpointer.step_dir(latest)
  verified = (" (verified)" if os.path.exists(os.path.join(step_dir, checkpoint_lib.SEAL))
              and checkpoint_lib.verify(step_dir) is None else "")
  hint = f"rerunning resumes from the checkpoint of step {latest}{verified} in {workdir}/checkpoints"
  if change_lr:
    hint += ("; to change the learning rate for it, add --config.optimizer.learning_rate=..."
             " --config.checkpoint.allow_changes=optimizer.learning_rate")
  return hint


def _check_finite(step: int, values: dict[str, float], state_fn, checkpointer,
                  workdir: str) -> None:
  """Stops at non-finite step metrics, naming the step, the tasks, the first non-finite
  leaf of the state (``state_fn()``, read only then) and the checkpoint to resume from."""
  bad = {k: v for k, v in values.items() if not np.isfinite(v)}
  if bad:
    leaves = checkpoint_lib.nonfinite_leaves(state_fn())
    where = f"; first non-finite state leaf: {leaves[0]}" if leaves else ""
    raise FloatingPointError(
        f"non-finite training values at step {step}: {bad}{where}. Lower"
        " config.optimizer.learning_rate, set config.optimizer.grad_clip_norm or"
        f" config.optimizer.skip_nonfinite; {_resume_hint(checkpointer, workdir)}.")


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
  """Trains, evaluates and checkpoints; resumes from ``workdir`` if it holds a checkpoint.

  Returns the final evaluation's metrics (``"<task>/<metric>"`` keys, and
  ``"delta_m"`` when there are single-task baselines); for a run that had
  already finished, those of its last evaluation. ``workdir/final.json`` holds
  the last evaluation and the mean of the last ``config.eval.summary_window``
  (see ``mtl_jax.protocol``); ``workdir/config.json`` the resolved config
  (``run_record``). One run at a time holds the workdir (``workdir_lock``).

  Raises:
    schema.ConfigError: an invalid config, or one that differs from the run
      recorded in ``workdir``.
    data.DataError: a missing or wrong data file.
    workdir_lock.WorkdirBusy: another run holds ``workdir``.
    FloatingPointError: non-finite losses or state (no checkpoint is written
      from a non-finite state).
    checkpoint_lib.CheckpointError: no checkpoint restores, or one could not
      be written (the previous one is verified).
    OutOfSpace: a file of the workdir could not be written for lack of space.
    preemption.Stopped: SIGTERM or Ctrl-C, after checkpointing.
  """
  exp = build.experiment(config)
  lock = workdir_lock.hold(workdir) if jax.process_index() == 0 else contextlib.nullcontext()
  with lock:
    return _run(exp, workdir)


def _run(exp: build.Experiment, workdir: str) -> dict[str, float]:
  """``train_and_evaluate`` once the experiment is built and the workdir held."""
  config = exp.config
  logging.info("Schedule: %s", epochs.describe(config, len(exp.source.train)))
  checkpointer = checkpoint_lib.Checkpointer(f"{workdir}/checkpoints",
                                             config.checkpoint.max_to_keep, repair=True)
  writer = report = None
  try:
    latest = checkpointer.latest_step()
    primary = jax.process_index() == 0  # The one process that writes the workdir's files.
    run_record.record(workdir, config, resuming=latest is not None, write=primary)
    writer = summary.MetricWriter(workdir, primary=primary)
    report = protocol.Report(writer, exp.baselines, exp.higher_is_better,
                             config.eval.summary_window,
                             baselines_lib.describe(config.eval.single_task_baselines))
    if latest is not None and latest >= config.schedule.num_steps:
      writer.truncate_after(latest)
      report.refresh()
      logging.warning("%s: the run is complete (step %d of %d); its results are in %s",
                      workdir, latest, config.schedule.num_steps, report.path)
      return writer.last_evaluation()
    return _train(exp, workdir, checkpointer, writer, report)
  except OSError as e:
    if e.errno in _FULL:
      raise _out_of_space(e, checkpointer, workdir) from e
    raise
  finally:
    checkpointer.close()
    if writer is not None:
      writer.close()


def _train(exp: build.Experiment, workdir: str, checkpointer, writer, report):
  """The loop: restore, then train, evaluate and checkpoint to ``schedule.num_steps``."""
  config, tasks, model = exp.config, exp.tasks, exp.model
  dp = parallel.DataParallel(config.parallel.mode, config.parallel.num_devices)
  keys = exp.input_keys
  train_iter = pipeline.train_iterator(
      exp.source.train, config.input, keys=keys, seed=config.seed,
      batch_size=config.input.batch_size // jax.process_count(),
      shard_index=jax.process_index(), shard_count=jax.process_count())
  state = train_state_lib.create(jax.random.PRNGKey(config.seed), model, tasks, exp.balancer,
                                 exp.tx, exp.info.image_shape)
  if checkpointer.latest_step() is None:
    state = backbone.initialise(config, model, state)  # ImageNet weights, if configured.
  else:
    state, data_state = checkpointer.restore(state)
    train_iter.set_state(data_state["iterator"])
    logging.warning("Resuming from step %d in %s", int(state.step), workdir)
  start = int(state.step)
  writer.truncate_after(start)
  report.refresh()

  step_fn = dp.compile(functools.partial(
      train_step, model=model, tasks=tasks, balancer=exp.balancer, tx=exp.tx,
      level=config.balancer.level, force_task_grads=config.balancer.force_task_grads,
      shard_task_grads=config.parallel.shard_task_grads,
      skip_nonfinite=config.optimizer.skip_nonfinite, dtype=build.compute_dtype(config)),
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
    host_state = dp.unreplicate(state_r)
    bad = checkpoint_lib.nonfinite_leaves(host_state)
    if bad:
      raise FloatingPointError(
          f"non-finite training state at step {step} (first: {bad[0]}; {len(bad)} leaves):"
          f" not checkpointed; {_resume_hint(checkpointer, workdir)}.")
    checkpointer.save(step, host_state, {"iterator": train_iter.get_state()})

  num_steps = config.schedule.num_steps
  state_r = dp.replicate(state)
  results = writer.last_evaluation()
  pending = []  # Per-step metrics still on device, read every log_every steps.

  skips_in_a_row = 0

  def check_step(step, values):  # Reads the state (from the device) only at a bad step.
    nonlocal skips_in_a_row
    if values.get("skipped"):
      skips_in_a_row += 1
      if skips_in_a_row <= MAX_SKIPS_IN_A_ROW:
        bad = sorted(k for k, v in values.items() if not np.isfinite(v))
        logging.warning("step %d: non-finite %s; the update is skipped (%d in a row)", step,
                        ", ".join(bad) or "gradients or state", skips_in_a_row)
        return
      raise FloatingPointError(
          f"{skips_in_a_row} steps in a row up to step {step} had non-finite losses or"
          " gradients and were skipped (config.optimizer.skip_nonfinite); lower"
          " config.optimizer.learning_rate or set config.optimizer.grad_clip_norm;"
          f" {_resume_hint(checkpointer, workdir)}.")
    skips_in_a_row = 0
    if not all(np.isfinite(v) for v in values.values()):
      _check_finite(step, values, lambda: dp.unreplicate(state_r), checkpointer, workdir)

  flush = lambda: _flush(pending, dp, writer, progress, check_step, optim.schedule(config))
  write_panel = _panel_writer(exp, config, workdir, writer) if writer.primary else None

  def evaluate_and_show(step):
    results = report.record(step, evaluation(state_r))
    progress.write(f"step {step}: " + ", ".join(f"{k} {v:.4g}" for k, v in results.items()
                                               if "/iou/" not in k))
    if write_panel is not None:
      write_panel(step, dp.unreplicate(state_r))
    writer.flush()
    return results

  progress = progress_lib.Progress(start, num_steps, config.input.batch_size)
  writer.config(run_record.flat(json.loads(run_record.to_json(config))))
  progress.write(parameter_table.table(state.params))
  try:
    if start == 0 and config.eval.at_start:
      progress.write("step 0: evaluating the untrained network (compiling the evaluation)...")
      results = evaluate_and_show(0)
    progress.write(f"step {start + 1}: compiling the train step...")
    with preemption.StopOnSignal() as stop:
      for step in range(start + 1, num_steps + 1):
        batch = next(train_iter)
        state_r, step_metrics = step_fn(state_r, dp.shard_batch(batch))
        pending.append((step, step_metrics))
        is_last = step == num_steps
        if step % config.schedule.log_every == 0 or is_last or stop.requested:
          flush()
        if step % config.schedule.checkpoint_every == 0 or is_last or stop.requested:
          flush()
          save(step)
          if is_last:
            checkpointer.wait()  # Sealed before final.json says the run is complete.
        if step % config.eval.every_steps == 0 or is_last:
          results = evaluate_and_show(step)
        if stop.requested:
          raise preemption.Stopped(stop.signum, step, workdir)
  finally:
    progress.close()
    train_iter.close()
  done = [f"results: {report.path}"]
  if write_panel is not None:
    done.append(f"predictions: {os.path.join(workdir, PANEL_FILE)}")
  done.append(f"TensorBoard: tensorboard --logdir {os.path.join(workdir, 'tensorboard')}")
  print(f"{workdir}: done at step {num_steps}; " + "; ".join(done), flush=True)
  return results


PANEL_FILE = "predictions.png"


def _panel_writer(exp: build.Experiment, config, workdir: str, writer):
  """``write(step, host_state)``: ``predictions.png`` of the first ``config.eval.num_images``
  test examples (ground truth and predictions), also as a TensorBoard image; None when
  the config asks for none."""
  count = min(config.eval.get("num_images", 0), len(exp.source.eval))
  if not count:
    return None
  batch = next(pipeline.eval_batches(exp.source.eval, keys=exp.input_keys, batch_size=count,
                                     max_batches=1))
  model, tasks = exp.model, tuple(exp.tasks)
  # Each task's ground truth as its loss sees it (edges may be derived from segmentation).
  truth = {t.name: np.asarray(t.ground_truth(batch)) if hasattr(t, "ground_truth")
           else batch[t.name] for t in tasks if hasattr(t, "ground_truth") or t.name in batch}
  shown = list(truth)

  @jax.jit
  def predict(params, batch_stats, images):
    outputs = model.apply({"params": params, "batch_stats": batch_stats},
                          forward.images_of({"image": images}), train=False)
    return {task.name: task.predict(outputs[task.name]) for task in tasks}

  def write(step, state):
    predicted = jax.device_get(predict(state.params, state.batch_stats, batch["image"]))
    path = os.path.join(workdir, PANEL_FILE)
    panels.truth_and_predictions(batch["image"], truth,
                                 {t: predicted[t] for t in shown}, exp.info.class_names, path,
                                 title=f"step {step}")
    writer.image("predictions", step, path)

  return write


def _flush(pending, dp, writer, progress, check, learning_rate) -> None:
  """Reads pending step metrics (the host sync), checks each step's
  (``check(step, values)`` raises at a bad one), and writes their means since the last
  write (losses, task weights; with the learning rate and the throughput) to
  ``train.jsonl`` and TensorBoard, and the last step's to the progress bar."""
  if not pending:
    return
  host = jax.device_get([(step, dp.unreplicate(m)) for step, m in pending])
  pending.clear()
  rows = []
  for step, values in host:
    values = {k: float(v) for k, v in values.items()}
    check(step, values)
    rows.append(values)
  means = {k: float(np.mean([r[k] for r in rows])) for k in rows[-1] if k != "skipped"}
  rate = progress.update(step, values)
  means["learning_rate"] = float(learning_rate(step))
  if rate is not None:
    means["images_per_second"] = rate
  writer.training(step, means)
