"""Evaluation over a split: the per-device accumulator step, and the loop that reduces once.

Metrics are accumulators (confusion matrices, sums, histograms) summed over
devices and batches and reduced once at the end (``Task.metric_result``), not
means of batch means. With ``config.eval.scales`` the network is also run
over several image scales and fused (``models.multi_scale``): average fusion
for any network, attention fusion for the HMSA wrapper.
"""

from typing import Optional, Sequence

import jax
import jax.numpy as jnp

from mtl_jax import forward
from mtl_jax import parallel
from mtl_jax.models import multi_scale


def eval_step(state, batch, accumulators, *, model, tasks, scales: Sequence[float] = (),
              fusions: Sequence[str] = (), axis_name: str = parallel.AXIS):
  """Adds one batch to the metric accumulators (summed over devices).

  ``accumulators`` is keyed by task name for the network's own prediction and
  by ``"<task>@<fusion>"`` for the multi-scale fusions of ``fusions`` over
  ``scales`` (``models.multi_scale.predict``; see ``eval_keys``).
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
    delta = task.metric_update(task.metric_init(), outputs[fusion][name], batch)
    new[key] = jax.tree_util.tree_map(jnp.add, acc, jax.lax.psum(delta, axis_name))
  return new


def eval_keys(tasks, model, fusions: Sequence[str] = ()) -> list[str]:
  """The evaluation's accumulator keys: every task, then ``"<task>@<fusion>"``
  for each fusion and task it predicts (attention: the HMSA wrapper's tasks).

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
  return keys


def evaluate(eval_fn, state, batches, dp: parallel.DataParallel, tasks,
             keys: Optional[Sequence[str]] = None) -> dict[str, float]:
  """Runs ``eval_fn`` (a compiled ``eval_step``) over ``batches`` and reduces once, at the end.

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
