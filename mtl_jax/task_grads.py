"""The gradients of a training step: the one place per-task gradients are computed.

``gradients(state, batch, ...)`` is per-device code (collectives over
``axis_name``) and takes the route the balancer needs:

* loss-level balancers (``balancer.needs_task_grads`` is False): the task
  weights come from the global losses, then ONE backward pass of
  ``sum_t w_t L_t``;
* gradient-level balancers: one forward pass of the encoder; the decoder runs
  on one copy of the representation per task, task t's loss read from copy t,
  so that ONE pull-back gives every task's gradient of the representation with
  each task head back-propagated once (``_decode_each_task``); networks whose
  decoders exchange features (``interface.coupled_decoders``: DenseMTL,
  SemBoost) decode once and pull back the T one-hot cotangents instead. Then

  - ``level="params"``: the encoder's pull-back, vmapped over the T
    representation gradients, gives the per-task gradients of the shared
    parameters ``[T, ...]`` (plus their gradients inside ``decode``, e.g.
    SemBoost's lateral units): forward + T head backward + T encoder backward
    passes, the floor for per-task parameter gradients;
  - ``level="features"``: the balancer combines the per-task gradients of the
    representation (the encoder's output) and the encoder is back-propagated
    once with the balanced cotangent.

Task-specific parameters, and parameters that ``decode`` uses (a task head:
its own task; MTAN's shared attention blocks: every task's), get the gradient
of ``sum_t h_t L_t`` with ``h = balancer.head_weights(state)``: what the
balancer states they receive.

Per-task gradients of the parameters are summed over devices before the
balancer sees them (the loss of each device is its share of the global-batch
mean), so every device runs the balancer on identical input with the same key:
replicas never drift. Per-task gradients of the representation are per
example: each device keeps its own, and only what the balancer's weights need
crosses devices (the psum of the ``T x T`` Gramians; ``_balance_examples``).

Networks with no shared parameters (``single_task``) train with every
balancer at both levels: each task's parameters get their own loss's gradient
(times the loss weights of a loss-level balancer). A gradient-level balancer
then has nothing to combine at the parameter level and runs on an empty
``[T, 0]`` gradient (so its state still advances: random draws, step counts;
its weights are those it gives for zero gradients); at the feature level it
combines the tasks' gradients of a representation that no parameter produces
(``single_task``'s is the input images). Its weights are logged all the same.
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from mtl_jax import forward
from mtl_jax import parallel
from mtl_jax.balancers import base as balancers_base
from mtl_jax.models import interface
from mtl_jax.models import partition

LEVELS = ("params", "features")


class Gradients(NamedTuple):
  """What ``gradients`` returns (identical on every device)."""
  grads: Any  # The parameters' gradients, summed over devices.
  batch_stats: Any  # The updated batch-norm statistics.
  losses: jax.Array  # [T] global-batch mean losses.
  balancer_state: Any  # The balancer's new state.


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


def _head_weights(balancer, bal_state, like, nothing_shared: bool):
  """``balancer.head_weights``: task t's parameters get ``h_t grad L_t``.

  A gradient method with no shared parameter to balance (``single_task``)
  combines nothing, and its weights of degenerate gradients mean nothing, so
  each task's parameters then get their own gradient.
  """
  if nothing_shared and balancer.kind != "loss":
    return jnp.ones(like.shape, like.dtype)
  return balancer.head_weights(bal_state).astype(like.dtype)


def _decode_each_task(model, tasks, batch_stats, batch, axis_name, dtype):
  """``(representations [T], params [T]) -> (this device's losses [T], batch stats)``.

  Task t's loss is computed from ``decode(representations[t], params[t])``:
  each task reads its own copy of the shared representation and of the
  parameters, so ONE pull-back of ones gives every task's gradient of the
  representation and of the parameters separately. Each task's head is then
  back-propagated once (T head backward passes, where a vmap of the pull-back
  over one-hot cotangents back-propagates every head for every task: T^2);
  XLA drops the heads a copy does not use. Batch statistics of a module owned
  by task t come from copy t, the others' from copy 0 (every copy computes the
  same ones).
  """
  names = [task.name for task in tasks]

  def decode(representations, params):
    losses, stats = [], []
    for task, representation, task_params in zip(tasks, representations, params):
      preds, task_stats = forward.apply_train(model, task_params, batch_stats, representation,
                                              method="decode", dtype=dtype)
      losses.append(forward.global_mean_losses([task], preds, batch, axis_name)[0])
      stats.append(task_stats)
    owners = {key: partition.owner(key, names) for key in stats[0]}
    merged = {key: stats[names.index(owner) if owner else 0][key]
              for key, owner in owners.items()}
    return jnp.stack(losses), merged
  return decode


def _per_task_backward(state, images, batch, *, model, tasks, axis_name, dtype):
  """The forward pass and every task's gradients of the representation and of ``decode``'s
  parameters.

  Returns ``(shared, local_losses [T], encoder_pullback, representation_grads,
  decode_grads, batch_stats)``: the shared parameters, this device's losses,
  the pull-back of ``encode`` with respect to (shared, task-specific)
  parameters, and each task's gradients of the representation and of the
  parameters through ``decode`` (leaves ``[T, ...]``).
  """
  names = [task.name for task in tasks]
  shared, specific = partition.split(parallel.varying(state.params, axis_name), names)
  representation, encoder_pullback, encoder_stats = jax.vjp(
      lambda shared, specific: forward.apply_train(model, partition.merge(shared, specific),
                                                   state.batch_stats, images, method="encode",
                                                   dtype=dtype),
      shared, specific, has_aux=True)
  params = partition.merge(shared, specific)
  if interface.coupled_decoders(model):
    def decode(representation, params):
      # From the encoder's updated statistics, as the full forward pass does.
      preds, stats = forward.apply_train(model, params, encoder_stats, representation,
                                         method="decode", dtype=dtype)
      return forward.global_mean_losses(tasks, preds, batch, axis_name), stats
    local_losses, pullback, batch_stats = jax.vjp(decode, representation, params,
                                                  has_aux=True)
    eye = parallel.varying(jnp.eye(len(tasks), dtype=local_losses.dtype), axis_name)
    representation_grads, decode_grads = jax.vmap(pullback)(eye)
  else:
    decode = _decode_each_task(model, tasks, encoder_stats, batch, axis_name, dtype)
    copies = len(tasks)
    local_losses, pullback, batch_stats = jax.vjp(
        decode, (representation,) * copies, (params,) * copies, has_aux=True)
    ones = parallel.varying(jnp.ones((copies,), local_losses.dtype), axis_name)
    representation_grads, decode_grads = map(_stack, pullback(ones))
  return shared, local_losses, encoder_pullback, representation_grads, decode_grads, batch_stats


def _param_level(state, images, batch, *, model, tasks, balancer, key, axis_name, dtype,
                 shard_task_grads):
  """Per-task gradients of the shared parameters, balanced (with ``shard_task_grads``, a
  shard per device for loss-level and Gramian methods: ``_balance_sharded``).

  Task t's gradient of the shared parameters is its gradient through the
  encoder (the encoder's pull-back, vmapped over the T representation
  gradients: T encoder backward passes, the floor of any method that needs
  per-task parameter gradients) plus its gradient of the shared parameters
  ``decode`` uses (SemBoost's lateral units, cross-stitch's columns).
  """
  names = [task.name for task in tasks]
  shared, local_losses, encoder_pullback, representation_grads, decode_grads, batch_stats = (
      _per_task_backward(state, images, batch, model=model, tasks=tasks, axis_name=axis_name,
                         dtype=dtype))
  losses = jax.lax.psum(local_losses, axis_name)
  through_encoder = jax.vmap(lambda c: encoder_pullback(c)[0])(representation_grads)
  in_decode, specific_in_decode = partition.split(decode_grads, names)
  local_task_grads = jax.tree_util.tree_map(jnp.add, through_encoder, in_decode)
  if (shard_task_grads and balancer.kind in ("loss", "gramian")
      and jax.lax.axis_size(axis_name) > 1 and jax.tree_util.tree_leaves(local_task_grads)):
    shared_grads, bal_state = _balance_sharded(balancer, local_task_grads,
                                               state.balancer_state, losses, key, axis_name)
  else:
    shared_grads, bal_state = _balance(balancer, jax.lax.psum(local_task_grads, axis_name),
                                       state.balancer_state, shared, losses, key)
  weights = _head_weights(balancer, bal_state, local_losses,
                          nothing_shared=not jax.tree_util.tree_leaves(shared))
  specific_grads = jax.tree_util.tree_map(
      jnp.add, encoder_pullback(_weighted_sum(weights, representation_grads))[1],
      _weighted_sum(weights, specific_in_decode))
  specific_grads = jax.lax.psum(specific_grads, axis_name)
  return Gradients(partition.merge(shared_grads, specific_grads), batch_stats, losses, bal_state)


def _split_weights(balancer, local_task_grads, bal_state, losses, key, axis_name):
  """``(weights [T], new state)`` of a loss-level or Gramian method from task gradients split
  over ``axis_name`` (by examples or by coordinates): the losses, or the psum of every
  device's ``T x T`` Gramian (the global Gramian, a sum over both)."""
  if balancer.kind == "loss":
    return balancer.weigh(losses, bal_state, key=key)
  gram = jax.lax.psum(balancers_base.gramian(local_task_grads), axis_name)
  return balancer.weigh_gramian(gram, bal_state, task_losses=losses, key=key)


def _balance_examples(balancer, local_task_grads, bal_state, losses, key, axis_name):
  """The balancer on the global batch's per-example gradients, each device holding its own.

  ``local_task_grads``: leaves ``[T, b, ...]``, this device's examples. A
  loss-level or Gramian method gets its weights from ``_split_weights``; a
  method with ``update_examples`` (GradDrop) runs it. Each device combines its
  own examples, so per-device memory and traffic do not grow with the device
  count (only a ``T x T`` sum crosses devices). A method with none of these
  gets every device's examples gathered for its ``update``.

  Returns ``(this device's share of the combined gradient, new balancer state)``.
  """
  if not jax.tree_util.tree_leaves(local_task_grads):
    return _balance(balancer, local_task_grads, bal_state, None, losses, key)
  if balancer.kind in ("loss", "gramian"):
    weights, bal_state = _split_weights(balancer, local_task_grads, bal_state, losses, key,
                                        axis_name)
    return balancers_base.combine(local_task_grads, weights), bal_state
  if balancer.update_examples is not None:
    return balancer.update_examples(local_task_grads, bal_state, task_losses=losses, key=key,
                                    axis_name=axis_name)
  gathered = _gather_examples(local_task_grads, axis_name)
  combined, bal_state = balancer.update(gathered, bal_state, None, task_losses=losses, key=key)
  index = jax.lax.axis_index(axis_name)
  return jax.tree_util.tree_map(
      lambda c, g: jax.lax.dynamic_slice_in_dim(c, index * g.shape[1], g.shape[1], axis=0),
      combined, local_task_grads), bal_state


def _balance_sharded(balancer, local_task_grads, bal_state, losses, key, axis_name):
  """The balancer on this device's per-task gradients of the shared parameters, summed over
  devices a shard each (``config.parallel.shard_task_grads``).

  The ``[T, P]`` gradients (leaves flattened and concatenated, zero-padded to
  a multiple of the device count D) are reduce-scattered: each device holds
  the global sum of its ``[T, P / D]`` coordinates, the weights come from the
  psum of the shards' Gramians, each device combines its shard, and the
  combined ``[P]`` is all-gathered. The same update as summing ``[T, P]`` on
  every device, with a ``1 / D`` share of the summed per-task gradients per
  device. Loss-level and Gramian methods only (see ``_balance``).
  """
  leaves, treedef = jax.tree_util.tree_flatten(local_task_grads)
  num_tasks = leaves[0].shape[0]
  dtype = jnp.result_type(*leaves)
  flat = jnp.concatenate([leaf.reshape(num_tasks, -1).astype(dtype) for leaf in leaves], axis=1)
  size, devices = flat.shape[1], jax.lax.axis_size(axis_name)
  flat = jnp.pad(flat, ((0, 0), (0, -size % devices)))
  shard = jax.lax.psum_scatter(flat, axis_name, scatter_dimension=1, tiled=True)
  weights, bal_state = _split_weights(balancer, shard, bal_state, losses, key, axis_name)
  combined = jax.lax.all_gather(balancers_base.combine(shard, weights), axis_name, tiled=True,
                                to="invarying")[:size]
  outs, start = [], 0
  for leaf in leaves:
    count = leaf[0].size
    outs.append(combined[start:start + count].reshape(leaf.shape[1:]).astype(leaf.dtype))
    start += count
  return jax.tree_util.tree_unflatten(treedef, outs), bal_state


def _feature_level(state, images, batch, *, model, tasks, balancer, key, axis_name, dtype):
  """Per-task gradients of the shared representation, balanced, then one encoder backward."""
  shared, local_losses, encoder_pullback, representation_grads, decode_grads, batch_stats = (
      _per_task_backward(state, images, batch, model=model, tasks=tasks, axis_name=axis_name,
                         dtype=dtype))
  losses = jax.lax.psum(local_losses, axis_name)
  local_combined, bal_state = _balance_examples(balancer, representation_grads,
                                                state.balancer_state, losses, key, axis_name)
  encoder_grads = partition.merge(*encoder_pullback(local_combined))
  weights = _head_weights(balancer, bal_state, local_losses,
                          nothing_shared=not jax.tree_util.tree_leaves(shared))
  grads = jax.tree_util.tree_map(jnp.add, encoder_grads, _weighted_sum(weights, decode_grads))
  return Gradients(jax.lax.psum(grads, axis_name), batch_stats, losses, bal_state)


def _loss_level(state, images, batch, *, model, tasks, balancer, key, axis_name, dtype):
  """The weights from the global losses, then one backward pass of ``sum_t w_t L_t``."""
  # The weights depend on the global losses, which need the forward pass:
  # take the pull-back of the loss vector once and apply it to the weights.
  local_losses, pullback, batch_stats = jax.vjp(
      lambda p: forward.losses(model, tasks, p, state.batch_stats, images, batch, axis_name,
                               dtype),
      parallel.varying(state.params, axis_name), has_aux=True)
  losses = jax.lax.psum(local_losses, axis_name)
  weights, bal_state = balancer.weigh(losses, state.balancer_state, key=key)
  cotangent = parallel.varying(weights.astype(local_losses.dtype), axis_name)
  grads = jax.lax.psum(pullback(cotangent)[0], axis_name)
  return Gradients(grads, batch_stats, losses, bal_state)


def gradients(state, batch, *, model, tasks, balancer, key: jax.Array, level: str = "params",
              force_task_grads: bool = False, shard_task_grads: bool = False,
              dtype=None, axis_name: str = parallel.AXIS) -> Gradients:
  """The balanced gradients of every parameter for this step (per-device code).

  Args:
    state: the replicated ``TrainState`` (``params``, ``batch_stats``,
      ``balancer_state``).
    batch: this device's examples: ``image`` uint8 ``[b, H, W, 3]``, each
      task's ground truth, and ``step`` (for losses with a schedule).
    model: a network of ``mtl_jax.models`` built with ``axis_name``.
    tasks: the tasks, in the order of the task axis.
    balancer: a ``mtl_jax.balancers.Balancer``.
    key: this step's key (the same on every device).
    level: "params" or "features": where per-task gradients are taken.
    force_task_grads: route a loss-level balancer through per-task gradients.
    shard_task_grads: at the parameter level, sum the per-task gradients over
      devices a shard each (``_balance_sharded``; loss-level and Gramian
      methods, else ignored): the same update, ``1 / D`` of their memory.
    dtype: the compute dtype of the network's passes (None: float32; see
      ``forward.apply_train``). The representation and its per-task gradients
      are then in it; parameter gradients, losses and Gramians are float32.
    axis_name: the data-parallel axis.

  Returns:
    ``Gradients``: the gradients, batch statistics, global losses ``[T]`` and
    the balancer's new state, identical on every device.
  """
  if level not in LEVELS:
    raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
  images = forward.images_of(batch)
  kwargs = dict(model=model, tasks=tasks, balancer=balancer, key=key, axis_name=axis_name,
                dtype=dtype)
  if not (balancer.needs_task_grads or force_task_grads):
    return _loss_level(state, images, batch, **kwargs)
  if level == "features":
    return _feature_level(state, images, batch, **kwargs)
  return _param_level(state, images, batch, shard_task_grads=shard_task_grads, **kwargs)
