"""Evaluation over a split: the per-device accumulator step, and the loop that reduces once.

Metrics are accumulators (confusion matrices, sums, histograms) summed over
devices and batches and reduced once at the end (``Task.metric_result``), not
means of batch means. With ``config.eval.scales`` the network is also run
over several image scales and fused (``models.multi_scale``): average fusion
for any network, attention fusion for the HMSA wrapper.

The field's protocol (``config.eval.protocol="per_batch"``), which produced
the published tables (MTAN's, CAGrad's, Nash-MTL's and FAMO's code), is also
reported, as ``<task>/<metric>@per_batch``: the depth and normal metrics of
each group of ``config.eval.per_batch_size`` (2) consecutive examples, the
normals' median included, averaged over the groups that have valid pixels.
Segmentation is accumulated over the split there too (a confusion matrix), so
it has no per-batch key.
"""

from typing import Optional, Sequence

import jax
import jax.numpy as jnp

from mtl_jax import forward
from mtl_jax import parallel
from mtl_jax.models import multi_scale

PER_BATCH = "per_batch"  # The key suffix of the field's per-batch protocol.
PROTOCOLS = ("split", PER_BATCH)
PER_BATCH_TASKS = ("depth", "normals")  # The tasks the field averages over batches.


def per_batch_init(task) -> dict:
  """Zero sums of each metric over groups, and the number of groups with valid pixels."""
  return {"sums": {m: jnp.zeros((), jnp.float32) for m in task.higher_is_better},
          "groups": jnp.zeros((), jnp.int32)}


def per_batch_delta(task, pred: jax.Array, batch, group: int) -> dict:
  """This batch's groups of ``group`` consecutive examples: their metrics, summed.

  Each group's metrics are ``task.metric_result`` of its own accumulators, so a
  group is what one of the field's evaluation batches was; a group without a
  valid pixel (NaN metrics, e.g. the padding of the last batch) is not counted.
  """
  num_groups = pred.shape[0] // group
  split = lambda x: x.reshape(num_groups, group, *x.shape[1:])
  arrays = {k: split(v) for k, v in batch.items() if getattr(v, "ndim", 0) >= 1
            and v.shape[0] == pred.shape[0]}
  results = jax.vmap(lambda p, b: task.metric_result(
      task.metric_update(task.metric_init(), p, b)))(split(pred), arrays)
  counted = jnp.all(jnp.stack([jnp.isfinite(v) for v in results.values()]), axis=0)
  return {"sums": {m: jnp.where(counted, v, 0.0).sum() for m, v in results.items()},
          "groups": counted.sum(dtype=jnp.int32)}


def eval_step(state, batch, accumulators, *, model, tasks, scales: Sequence[float] = (),
              fusions: Sequence[str] = (), per_batch_size: int = 2,
              axis_name: str = parallel.AXIS):
  """Adds one batch to the metric accumulators (summed over devices).

  ``accumulators`` is keyed by task name for the network's own prediction, by
  ``"<task>@<fusion>"`` for the multi-scale fusions of ``fusions`` over
  ``scales`` (``models.multi_scale.predict``), and by ``"<task>@per_batch"``
  for the per-batch protocol over groups of ``per_batch_size`` examples (this
  device's examples must split into whole groups); see ``eval_keys``.
  """
  variables = {"params": state.params, "batch_stats": state.batch_stats}
  images = forward.images_of(batch)
  outputs = {"": model.apply(variables, images, train=False)}
  for fusion in fusions:
    outputs[fusion] = multi_scale.predict(model, variables, images, scales, fusion)
  by_name = {task.name: task for task in tasks}
  new = {}
  for key, acc in accumulators.items():
    name, _, fusion = key.partition("@")
    task = by_name[name]
    if fusion == PER_BATCH:
      delta = per_batch_delta(task, outputs[""][name], batch, per_batch_size)
    else:
      delta = task.metric_update(task.metric_init(), outputs[fusion][name], batch)
    new[key] = jax.tree_util.tree_map(jnp.add, acc, jax.lax.psum(delta, axis_name))
  return new


def eval_keys(tasks, model, fusions: Sequence[str] = (), protocol: str = "split") -> list[str]:
  """The evaluation's accumulator keys: every task, then ``"<task>@<fusion>"``
  for each fusion and task it predicts (attention: the HMSA wrapper's tasks),
  then with ``protocol="per_batch"`` ``"<task>@per_batch"`` for depth and normals.

  >>> from mtl_jax import models, tasks as tasks_lib
  >>> hmsa = models.wrap("hmsa", models.get("hps", task_channels={"segmentation": 3}))
  >>> eval_keys([tasks_lib.get("depth"), tasks_lib.get("segmentation", num_classes=3)], hmsa,
  ...           ("average", "attention"))
  ['depth', 'segmentation', 'depth@average', 'segmentation@average', 'segmentation@attention']
  """
  names = [task.name for task in tasks]
  keys = list(names)
  for fusion in fusions:
    fused = getattr(model, "tasks", ()) if fusion == "attention" else names
    keys += [f"{name}@{fusion}" for name in names if name in fused]
  if protocol == PER_BATCH:
    keys += [f"{name}@{PER_BATCH}" for name in names if name in PER_BATCH_TASKS]
  return keys


def evaluate(eval_fn, state, batches, dp: parallel.DataParallel, tasks,
             keys: Optional[Sequence[str]] = None) -> dict[str, float]:
  """Runs ``eval_fn`` (a compiled ``eval_step``) over ``batches`` and reduces once, at the end.

  ``keys`` (default: the task names) are the accumulators of ``eval_step``;
  ``"<task>@<fusion>"`` reports as ``"<task>/<metric>@<fusion>"``.
  """
  by_name = {task.name: task for task in tasks}
  keys = list(keys or by_name)

  def init(key):
    name, _, fusion = key.partition("@")
    task = by_name[name]
    return per_batch_init(task) if fusion == PER_BATCH else task.metric_init()

  accumulators = dp.replicate({k: init(k) for k in keys})
  for batch in batches:
    accumulators = eval_fn(state, dp.shard_batch(batch), accumulators)
  accumulators = jax.device_get(dp.unreplicate(accumulators))
  results = {}
  for key in keys:
    name, at, fusion = key.partition("@")
    acc = accumulators[key]
    if fusion == PER_BATCH:
      values = {m: float(s) / acc["groups"] if acc["groups"] else float("nan")
                for m, s in acc["sums"].items()}
    else:
      values = by_name[name].metric_result(acc)
    for metric, value in values.items():
      results[f"{name}/{metric}{at}{fusion}"] = float(value)
  return results
