"""The step functions and ``train_and_evaluate(config, workdir)``.

``train_step`` and ``eval_step`` are per-device functions written once with
collectives over ``parallel.AXIS``; ``parallel.DataParallel`` runs them under
``jax.pmap`` or ``jax.shard_map``. Per-task gradients are computed here and
nowhere else:

* loss-level balancers (``balancer.needs_task_grads`` is False): the task
  weights come from the losses, then ONE backward pass of ``sum_t w_t L_t``;
* gradient-level balancers: one forward pass of the encoder; the decoder runs
  on one copy of the representation per task, task t's loss read from copy t,
  so that ONE pull-back gives every task's gradient of the representation with
  each task head back-propagated once (``_decode_each_task``). Then
  - ``level="params"``: the encoder's pull-back, vmapped over the T
    representation gradients, gives the per-task gradients of the shared
    parameters ``[T, ...]`` (plus their gradients inside ``decode``, e.g.
    SemBoost's lateral units): forward + T head backward + T encoder backward
    passes, the floor for per-task parameter gradients;
  - ``level="features"``: the balancer combines the per-task gradients of the
    representation (the encoder's output) and the encoder is back-propagated
    once with the balanced cotangent.
  Task-specific parameters get their own loss's gradient; parameters that
  ``decode`` uses get the gradient of the sum of the losses they reach (a task
  head: its own; MTAN's shared attention blocks: every task's).

Per-task gradients are summed over devices before the balancer sees them (the
loss of each device is its share of the global-batch mean), so every device
runs the balancer on identical input with the same key: replicas never drift.

Networks with no shared parameters (``single_task``) train with every
balancer at both levels: each task's parameters get their own loss's gradient,
as task-specific parameters always do. A loss-level balancer's weights scale
each task's gradient (``w_t * grad L_t``). A gradient-level balancer's weights
scale nothing: at the parameter level it has nothing to combine and runs on
an empty ``[T, 0]`` gradient (so its state still advances: random draws, step
counts; its weights are those it gives for zero gradients); at the feature
level it combines the tasks' gradients of a representation that no parameter
produces (``single_task``'s is the input images). Its weights are logged all
the same.
"""

import functools
import inspect
import time
from typing import Any, Optional, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl import logging

from mtl_jax import balancers as balancers_lib
from mtl_jax import baselines as baselines_lib
from mtl_jax import checkpoint as checkpoint_lib
from mtl_jax import data as data_lib
from mtl_jax import epochs
from mtl_jax import metrics as metrics_lib
from mtl_jax import models as models_lib
from mtl_jax import optim
from mtl_jax import parallel
from mtl_jax import preemption
from mtl_jax import progress as progress_lib
from mtl_jax import protocol
from mtl_jax import summary
from mtl_jax import tasks as tasks_lib
from mtl_jax import validation
from mtl_jax.data import pipeline
from mtl_jax.models import multi_scale
from mtl_jax.models import partition
from mtl_jax.train_state import TrainState

LEVELS = ("params", "features")


def images_of(batch) -> jax.Array:
  """The batch's uint8 images as float32 in [0, 1]."""
  return batch["image"].astype(jnp.float32) / 255.0


def _global_mean_losses(tasks, preds, batch, axis_name):
  """This device's share of each task's global-batch mean loss, ``[T]``.

  Summing the result over devices gives the mean over all valid pixels of the
  global batch, whatever the number of valid pixels on each device. A task
  whose loss has several terms (``(sums [K], counts [K])``) gets
  ``sum_k sums_k / counts_k``, each term's count taken over the global batch.
  """
  terms = [task.loss_terms(preds[task.name], batch) for task in tasks]
  sums = [jnp.atleast_1d(s).astype(jnp.float32) for s, _ in terms]
  counts = jax.lax.psum(
      jnp.concatenate([jnp.atleast_1d(c).astype(jnp.float32) for _, c in terms]), axis_name)
  ratios = jnp.concatenate(sums) / jnp.maximum(counts, 1.0)
  bounds = np.cumsum([0] + [s.shape[0] for s in sums])
  return jnp.stack([ratios[a:b].sum() for a, b in zip(bounds[:-1], bounds[1:])])


def _varying(tree, axis_name):
  """Marks values identical on every device as per-device values (no-op in pmap).

  Under ``shard_map`` the cotangent of a per-device output must be per-device,
  and differentiating with respect to replicated parameters would insert an
  implicit sum over devices; marking the parameters per-device keeps every
  gradient local until the explicit ``psum`` (the same program as under pmap).
  """
  return jax.lax.pcast(tree, axis_name, to="varying")


def _gather_examples(tree, axis_name):
  """``[T, b, ...]`` per device -> ``[T, b * num_devices, ...]``, identical on all devices.

  A psum of zero-padded slots, so the result is known to be device-invariant.
  """
  index, size = jax.lax.axis_index(axis_name), jax.lax.axis_size(axis_name)
  def gather(g):
    full = jnp.zeros((g.shape[0], g.shape[1] * size, *g.shape[2:]), g.dtype)
    full = jax.lax.dynamic_update_slice_in_dim(full, g, index * g.shape[1], axis=1)
    return jax.lax.psum(full, axis_name)
  return jax.tree_util.tree_map(gather, tree)


def _apply(model, params, batch_stats, inputs, method=None):
  """``model.apply`` in training mode; returns (output, new batch stats)."""
  out, mutated = model.apply({"params": params, "batch_stats": batch_stats}, inputs,
                             train=True, mutable=["batch_stats"], method=method)
  return out, mutated.get("batch_stats", {})


def _losses(model, tasks, params, batch_stats, images, batch, axis_name):
  """Forward pass in training mode: (this device's share of the losses [T], batch stats)."""
  preds, stats = _apply(model, params, batch_stats, images)
  return _global_mean_losses(tasks, preds, batch, axis_name), stats


def _balance(balancer, task_grads, bal_state, params, losses, key):
  """``balancer.update``; with no per-task gradient to combine, a run on a ``[T, 0]`` one.

  Returns ``(combined, new balancer state)``; ``combined`` has ``task_grads``'
  structure without the task axis (for an empty tree, the tree itself).
  """
  if jax.tree_util.tree_leaves(task_grads):
    return balancer.update(task_grads, bal_state, params, task_losses=losses, key=key)
  empty = jnp.zeros((losses.shape[0], 0), jnp.float32)
  _, bal_state = balancer.update(empty, bal_state, None, task_losses=losses, key=key)
  return task_grads, bal_state


def _stack(trees):
  """A list of T trees -> one tree whose leaves carry a leading task axis ``[T, ...]``."""
  return jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *trees)


def _weighted_sum(weights, stacked):
  """``sum_t weights[t] * stacked[t]``, leaf by leaf, for leaves ``[T, ...]``."""
  return jax.tree_util.tree_map(
      lambda leaf: jnp.tensordot(weights.astype(leaf.dtype), leaf, axes=1), stacked)


def _decode_each_task(model, tasks, batch_stats, batch, axis_name):
  """``(representations [T], params [T]) -> (this device's losses [T], batch stats)``.

  Task t's loss is computed from ``decode(representations[t], params[t])``:
  each task reads its own copy of the shared representation and of the
  parameters, so ONE pull-back of ones gives every task's gradient of the
  representation and of the parameters separately. Each task's head is then
  back-propagated once (T head backward passes, where a vmap of the pull-back
  over one-hot cotangents back-propagates every head for every task: T^2);
  XLA drops the heads a copy does not use (coupled decoders take the other
  path of ``_per_task_backward``). Batch statistics of a module owned by task t come
  from copy t, the others' from copy 0 (every copy computes the same ones).
  """
  names = [task.name for task in tasks]

  def decode(representations, params):
    losses, stats = [], []
    for task, representation, task_params in zip(tasks, representations, params):
      preds, task_stats = _apply(model, task_params, batch_stats, representation,
                                 method="decode")
      losses.append(_global_mean_losses([task], preds, batch, axis_name)[0])
      stats.append(task_stats)
    owners = {key: partition.owner(key, names) for key in stats[0]}
    merged = {key: stats[names.index(owner) if owner else 0][key]
              for key, owner in owners.items()}
    return jnp.stack(losses), merged
  return decode


def _per_task_backward(state, images, batch, *, model, tasks, axis_name):
  """The forward pass and every task's gradients of the representation and of ``decode``'s parameters.

  Returns ``(shared, local_losses [T], encoder_pullback, representation_grads,
  decode_grads, batch_stats)``: the shared parameters, this device's losses,
  the pull-back of ``encode`` with respect to (shared, task-specific)
  parameters, and each task's gradients of the representation and of the
  parameters through ``decode`` (leaves ``[T, ...]``).

  Separate task heads (``_decode_each_task``): T head backward passes. Models
  whose decoders exchange features (``model.COUPLED_DECODERS``: DenseMTL,
  SemBoost) need every decoder in every task's backward pass
  anyway, so they decode once and pull back the T one-hot cotangents (one
  forward pass of the decoders instead of T).
  """
  names = [task.name for task in tasks]
  shared, specific = partition.split(_varying(state.params, axis_name), names)
  representation, encoder_pullback, encoder_stats = jax.vjp(
      lambda shared, specific: _apply(model, partition.merge(shared, specific),
                                      state.batch_stats, images, method="encode"),
      shared, specific, has_aux=True)
  params = partition.merge(shared, specific)
  if getattr(model, "COUPLED_DECODERS", False):
    def decode(representation, params):
      # From the encoder's updated statistics, as the full forward pass does.
      preds, stats = _apply(model, params, encoder_stats, representation, method="decode")
      return _global_mean_losses(tasks, preds, batch, axis_name), stats
    local_losses, pullback, batch_stats = jax.vjp(decode, representation, params,
                                                  has_aux=True)
    eye = _varying(jnp.eye(len(tasks), dtype=local_losses.dtype), axis_name)
    representation_grads, decode_grads = jax.vmap(pullback)(eye)
  else:
    decode = _decode_each_task(model, tasks, encoder_stats, batch, axis_name)
    copies = len(tasks)
    local_losses, pullback, batch_stats = jax.vjp(
        decode, (representation,) * copies, (params,) * copies, has_aux=True)
    ones = _varying(jnp.ones((copies,), local_losses.dtype), axis_name)
    representation_grads, decode_grads = map(_stack, pullback(ones))
  return shared, local_losses, encoder_pullback, representation_grads, decode_grads, batch_stats


def _param_level_grads(state, images, batch, *, model, tasks, balancer, key, axis_name):
  """Per-task gradients of the shared parameters; returns (grads, batch_stats, losses, bal_state).

  Task t's gradient of the shared parameters is its gradient through the
  encoder (the encoder's pull-back, vmapped over the T representation
  gradients: T encoder backward passes, the floor of any method that needs
  per-task parameter gradients) plus its gradient of the shared parameters
  ``decode`` uses (SemBoost's lateral units, cross-stitch's columns).
  """
  names = [task.name for task in tasks]
  shared, local_losses, encoder_pullback, representation_grads, decode_grads, batch_stats = (
      _per_task_backward(state, images, batch, model=model, tasks=tasks, axis_name=axis_name))
  losses = jax.lax.psum(local_losses, axis_name)
  through_encoder = jax.vmap(lambda c: encoder_pullback(c)[0])(representation_grads)
  in_decode, specific_in_decode = partition.split(decode_grads, names)
  task_grads = jax.lax.psum(jax.tree_util.tree_map(jnp.add, through_encoder, in_decode),
                            axis_name)
  shared_grads, bal_state = _balance(balancer, task_grads, state.balancer_state, shared,
                                     losses, key)
  weights = _head_cotangent(balancer, bal_state, local_losses)
  specific_grads = jax.tree_util.tree_map(
      jnp.add, encoder_pullback(_weighted_sum(weights, representation_grads))[1],
      _weighted_sum(weights, specific_in_decode))
  specific_grads = jax.lax.psum(specific_grads, axis_name)
  return partition.merge(shared_grads, specific_grads), batch_stats, losses, bal_state


def _feature_level_grads(state, images, batch, *, model, tasks, balancer, key, axis_name):
  """Per-task gradients of the shared representation, balanced, then one encoder backward."""
  _, local_losses, encoder_pullback, representation_grads, decode_grads, batch_stats = (
      _per_task_backward(state, images, batch, model=model, tasks=tasks, axis_name=axis_name))
  losses = jax.lax.psum(local_losses, axis_name)
  local_task_grads = representation_grads
  # The representation is per example: gather every device's examples so the
  # balancer sees the global batch's per-task gradients, then keep our slice.
  gathered = _gather_examples(local_task_grads, axis_name)
  combined, bal_state = _balance(balancer, gathered, state.balancer_state, None, losses, key)
  index = jax.lax.axis_index(axis_name)
  local_combined = jax.tree_util.tree_map(
      lambda c, g: jax.lax.dynamic_slice_in_dim(c, index * g.shape[1], g.shape[1], axis=0),
      combined, local_task_grads)
  encoder_grads = partition.merge(*encoder_pullback(local_combined))
  weights = _head_cotangent(balancer, bal_state, local_losses)
  grads = jax.tree_util.tree_map(jnp.add, encoder_grads, _weighted_sum(weights, decode_grads))
  return jax.lax.psum(grads, axis_name), batch_stats, losses, bal_state


def _head_cotangent(balancer, bal_state, like):
  """The weights of the task losses in the gradient of the task-specific parameters
  (and of ``decode``'s parameters): the balancer's ``head_weights``."""
  return balancer.head_weights(bal_state).astype(like.dtype)


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
  images = images_of(batch)
  batch = {**batch, "step": state.step}  # For losses with a schedule (tasks.base).
  kwargs = dict(model=model, tasks=tasks, balancer=balancer, key=key, axis_name=axis_name)
  if balancer.needs_task_grads or force_task_grads:
    grad_fn = _feature_level_grads if level == "features" else _param_level_grads
    grads, batch_stats, losses, bal_state = grad_fn(state, images, batch, **kwargs)
  else:
    # The weights depend on the global losses, which need the forward pass:
    # take the pull-back of the loss vector once and apply it to the weights.
    local_losses, pullback, batch_stats = jax.vjp(
        lambda p: _losses(model, tasks, p, state.batch_stats, images, batch, axis_name),
        _varying(state.params, axis_name), has_aux=True)
    losses = jax.lax.psum(local_losses, axis_name)
    weights, bal_state = balancer.weigh(losses, state.balancer_state, key=key)
    cotangent = _varying(weights.astype(local_losses.dtype), axis_name)
    grads = jax.lax.psum(pullback(cotangent)[0], axis_name)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  new_state = state.replace(
      step=state.step + 1, params=optax.apply_updates(state.params, updates),
      batch_stats=batch_stats, opt_state=opt_state, balancer_state=bal_state)
  metrics = {}
  for i, task in enumerate(tasks):
    metrics[f"loss/{task.name}"] = losses[i]
    metrics[f"weight/{task.name}"] = bal_state.weights[i]
  return new_state, metrics


def eval_step(state: TrainState, batch, accumulators, *, model, tasks,
              scales: Sequence[float] = (), fusions: Sequence[str] = (),
              axis_name: str = parallel.AXIS):
  """Adds one batch to the metric accumulators (summed over devices).

  ``accumulators`` is keyed by task name for the network's own prediction and
  by ``"<task>@<fusion>"`` for the multi-scale fusions of ``fusions`` over
  ``scales`` (``models.multi_scale.predict``; see ``eval_keys``).
  """
  variables = {"params": state.params, "batch_stats": state.batch_stats}
  images = images_of(batch)
  outputs = {"": model.apply(variables, images, train=False)}
  for fusion in fusions:
    outputs[fusion] = multi_scale.predict(model, variables, images, scales, fusion)
  by_name = {task.name: task for task in tasks}
  new = {}
  for key, acc in accumulators.items():
    name, _, fusion = key.partition("@")
    task = by_name[name]
    delta = task.metric_update(task.metric_init(), outputs[fusion][name], batch)
    new[key] = jax.tree_util.tree_map(jnp.add, acc, jax.lax.psum(delta, axis_name))
  return new


def eval_keys(tasks, model, fusions: Sequence[str] = ()) -> list[str]:
  """The evaluation's accumulator keys: every task, then ``"<task>@<fusion>"``
  for each fusion and task it predicts (attention: the HMSA wrapper's tasks).

  >>> hmsa = models_lib.wrap("hmsa", models_lib.get("hps", task_channels={}))
  >>> eval_keys([tasks_lib.get("depth"), tasks_lib.get("segmentation", num_classes=3)], hmsa,
  ...           ("average", "attention"))
  ['depth', 'segmentation', 'depth@average', 'segmentation@average', 'segmentation@attention']
  """
  names = [task.name for task in tasks]
  keys = list(names)
  for fusion in fusions:
    fused = getattr(model, "tasks", ()) if fusion == "attention" else names
    keys += [f"{name}@{fusion}" for name in names if name in fused]
  return keys


def input_keys(tasks) -> list[str]:
  """The batch keys the input pipeline loads: the image and what the tasks read.

  >>> input_keys([tasks_lib.get("depth", loss="attention", num_classes=3)])
  ['image', 'depth', 'segmentation']
  """
  keys = ["image"]
  for task in tasks:
    keys += [k for k in getattr(task, "inputs", (task.name,)) if k not in keys]
  return keys


def create_train_state(rng: jax.Array, model, tasks, balancer, tx, image_shape) -> TrainState:
  """Initial parameters, optimizer and balancer state for ``[H, W, 3]`` images.

  The balancer is initialised on the shared parameters (possibly none).
  """
  init_rng, step_rng = jax.random.split(rng)
  dummy = jnp.zeros((1, *image_shape), jnp.float32)
  variables = jax.jit(functools.partial(model.init, train=False))(init_rng, dummy)
  params = variables["params"]
  shared, _ = partition.split(params, [task.name for task in tasks])
  return TrainState(
      step=jnp.zeros((), jnp.int32), params=params,
      batch_stats=variables.get("batch_stats", {}), opt_state=tx.init(params),
      balancer_state=balancer.init(shared), rng=step_rng)


def build(config: ml_collections.ConfigDict):
  """Tasks, model, balancer and optimizer from a validated config."""
  info = data_lib.info(config.dataset)
  tasks = []
  for name in config.tasks.names:
    kwargs = dict(config.tasks.get(name, {}))
    if "num_classes" in inspect.signature(tasks_lib.REGISTRY[name]).parameters:
      kwargs["num_classes"] = info.num_classes
    tasks.append(tasks_lib.get(name, **kwargs))
  model = models_lib.get(
      config.model.name, task_channels={t.name: t.channels for t in tasks},
      axis_name=parallel.AXIS, **config.model.kwargs)
  if config.model.get("wrapper"):
    model = models_lib.wrap(config.model.wrapper, model, **config.model.wrapper_kwargs)
  balancer = balancers_lib.get(config.balancer.name, num_tasks=len(tasks),
                               **config.balancer.kwargs)
  return tasks, model, balancer, optim.optimizer(config)


def restore(config: ml_collections.ConfigDict, workdir: str):
  """``(tasks, model, state)`` from the newest checkpoint in ``workdir``, on the host.

  For inspecting a trained network (e.g. in a notebook)::

    tasks, model, state = train.restore(config, workdir)
    preds = model.apply({"params": state.params, "batch_stats": state.batch_stats},
                        images, train=False)
  """
  tasks, model, balancer, tx = build(config)
  image_shape = data_lib.info(config.dataset).image_shape
  target = jax.eval_shape(lambda: create_train_state(
      jax.random.PRNGKey(config.seed), model, tasks, balancer, tx, image_shape))
  target = jax.tree_util.tree_map(lambda s: np.zeros(s.shape, s.dtype), target)
  checkpointer = checkpoint_lib.Checkpointer(f"{workdir}/checkpoints")
  try:
    state, _ = checkpointer.restore(target)
  finally:
    checkpointer.close()
  return tasks, model, state


def evaluate(eval_fn, state, batches, dp: parallel.DataParallel, tasks,
             keys: Optional[Sequence[str]] = None) -> dict[str, float]:
  """Runs ``eval_fn`` over ``batches`` and reduces the accumulators once, at the end.

  ``keys`` (default: the task names) are the accumulators of ``eval_step``;
  ``"<task>@<fusion>"`` reports as ``"<task>/<metric>@<fusion>"``.
  """
  by_name = {task.name: task for task in tasks}
  keys = list(keys or by_name)
  accumulators = dp.replicate({k: by_name[k.partition("@")[0]].metric_init() for k in keys})
  for batch in batches:
    accumulators = eval_fn(state, dp.shard_batch(batch), accumulators)
  accumulators = jax.device_get(dp.unreplicate(accumulators))
  results = {}
  for key in keys:
    name, at, fusion = key.partition("@")
    for metric, value in by_name[name].metric_result(accumulators[key]).items():
      results[f"{name}/{metric}{at}{fusion}"] = float(value)
  return results


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
  (see ``mtl_jax.protocol``).
  """
  validation.validate(config)
  tasks, model, balancer, _ = build(config)
  validation.check_shapes(model, data_lib.info(config.dataset).image_shape,
                          {task.name: task.channels for task in tasks},
                          eval_scales=tuple(config.eval.get("scales", ())))
  dp = parallel.DataParallel(config.parallel.mode, config.parallel.num_devices)
  source = data_lib.prepare(config.dataset)
  # Epoch-based schedule fields become steps now that the split size is known.
  logging.info("Schedule: %s", epochs.describe(config, len(source.train)))
  config = epochs.to_steps(config, len(source.train))
  tx = optim.optimizer(config)
  keys = input_keys(tasks)
  train_iter = pipeline.train_iterator(
      source.train, config.input, keys=keys, seed=config.seed,
      batch_size=config.input.batch_size // jax.process_count(),
      shard_index=jax.process_index(), shard_count=jax.process_count())

  state = create_train_state(jax.random.PRNGKey(config.seed), model, tasks, balancer, tx,
                             source.image_shape)
  checkpointer = checkpoint_lib.Checkpointer(f"{workdir}/checkpoints",
                                             config.checkpoint.max_to_keep)
  writer = summary.MetricWriter(workdir)
  report = _report(config, tasks, writer)
  if checkpointer.latest_step() is not None:
    state, data_state = checkpointer.restore(state)
    train_iter.set_state(data_state["iterator"].encode())
    logging.warning("Resuming from step %d in %s", int(state.step), workdir)
  start = int(state.step)
  writer.truncate_after(start)
  report.refresh()

  step_fn = dp.compile(functools.partial(
      train_step, model=model, tasks=tasks, balancer=balancer, tx=tx,
      level=config.balancer.level, force_task_grads=config.balancer.force_task_grads),
      donate_argnums=(0,))
  scales = tuple(config.eval.get("scales", ()))
  fusions = tuple(config.eval.get("fusions", ())) if scales else ()
  eval_fn = dp.compile(functools.partial(eval_step, model=model, tasks=tasks, scales=scales,
                                         fusions=fusions))
  accumulator_keys = eval_keys(tasks, model, fusions)

  def eval_batches():
    return pipeline.eval_batches(
        source.eval, keys=keys, batch_size=config.input.eval_batch_size // jax.process_count(),
        shard_index=jax.process_index(), shard_count=jax.process_count(),
        max_batches=config.eval.max_batches)

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
      results = report.record(0, evaluate(eval_fn, state_r, eval_batches(), dp, tasks,
                                          accumulator_keys))
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
          results = report.record(step, evaluate(eval_fn, state_r, eval_batches(), dp,
                                                     tasks, accumulator_keys))
          progress.write(f"step {step}: " + ", ".join(
              f"{k} {v:.4g}" for k, v in results.items()))
        if stop.requested:
          raise KeyboardInterrupt(f"stopped by signal at step {step}; checkpoint saved")
  finally:
    progress.close()
    checkpointer.close()
    writer.close()
  return results


def _report(config, tasks, writer) -> protocol.Report:
  """Δm against the configured single-task baselines, and the final.json summary."""
  higher_is_better = metrics_lib.flatten({t.name: t.higher_is_better for t in tasks})
  spec = config.eval.single_task_baselines
  return protocol.Report(writer, baselines_lib.resolve(spec, config.dataset, higher_is_better),
                         higher_is_better, config.eval.summary_window,
                         baselines_lib.describe(spec))


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
