"""DenseMTL's four tasks (segmentation, depth, normals, edges) through every balancer and level.

One training step of the smallest HPS on one device, every method compiled into one
program per level: each must produce finite losses for the four tasks, four task
weights where it reports weights, and an update.
"""

import jax
import numpy as np

from mtl_jax import parallel
from mtl_jax import tasks as tasks_lib
from mtl_jax import task_grads

import test_train_balancers as two_tasks

NUM_CLASSES = 3
FOUR = (tasks_lib.get("segmentation", num_classes=NUM_CLASSES), tasks_lib.get("depth"),
        tasks_lib.get("normals"), tasks_lib.get("edges"))


_TWO_TASK_BATCH = two_tasks.make_batch


def make_batch(seed):
  batch = _TWO_TASK_BATCH(seed)
  rng = np.random.default_rng(seed + 100)
  normals = rng.normal(size=batch["depth"].shape + (3,)).astype(np.float32)
  batch["normals"] = normals / np.linalg.norm(normals, axis=-1, keepdims=True)
  batch["edges"] = (rng.uniform(size=batch["depth"].shape) < 0.2).astype(np.int32)
  return batch


def test_every_balancer_and_level_takes_four_tasks(monkeypatch):
  monkeypatch.setattr(two_tasks, "TASKS", FOUR)
  monkeypatch.setattr(two_tasks, "make_batch", make_batch)
  from mtl_jax import models  # pylint: disable=g-import-not-at-top
  model = models.get("hps", task_channels={t.name: t.channels for t in FOUR}, widths=(4,),
                     axis_name=parallel.AXIS)
  variables = jax.device_get(jax.jit(lambda k, x: model.init(k, x, train=False))(
      jax.random.PRNGKey(0), np.zeros((1, two_tasks.H, two_tasks.W, 3), np.float32)))
  init = jax.tree_util.tree_leaves(variables["params"])
  for level in task_grads.LEVELS:
    names = two_tasks.METHODS[level]
    states, history = two_tasks.run(parallel.DataParallel("shard_map", 1), names, level, model,
                                    variables, num_steps=1)
    for name in names:
      metrics = history[name][0]
      losses = {k for k in metrics if k.startswith("loss/")}
      assert losses == {f"loss/{t.name}" for t in FOUR}, (name, sorted(metrics))
      assert all(np.isfinite(v) for v in metrics.values()), (name, level, metrics)
      weights = [k for k in metrics if k.startswith("weight/")]
      assert not weights or len(weights) == 4, (name, weights)
      leaves = jax.tree_util.tree_leaves(states[name].params)
      assert any(not np.array_equal(a, b) for a, b in zip(leaves, init)), (name, level)
