"""Shared by the wrapper tests: a few steps of the real data-parallel train_step."""

import functools

import jax
import numpy as np
import optax

from mtl_jax import balancers
from mtl_jax import models
from mtl_jax import parallel
from mtl_jax import tasks as tasks_lib
from mtl_jax import train
from mtl_jax import train_state

H, W, NUM_CLASSES, BATCH = 16, 16, 5, 8


def make_tasks(**segmentation_options):
  return [tasks_lib.get("segmentation", num_classes=NUM_CLASSES, **segmentation_options),
          tasks_lib.get("depth")]


def make_network(tasks, axis_name=parallel.AXIS):
  return models.get("hps", task_channels={t.name: t.channels for t in tasks}, widths=(4, 8),
                    axis_name=axis_name)


def make_batch(seed):
  rng = np.random.default_rng(seed)
  seg = rng.integers(0, NUM_CLASSES, (BATCH, H, W)).astype(np.int32)
  seg[0] = -1  # One device's example is all ignored.
  depth = rng.uniform(0.5, 5.0, (BATCH, H, W)).astype(np.float32)
  image = rng.integers(0, 256, (BATCH, H, W, 3)).astype(np.uint8)
  return {"image": image, "segmentation": seg, "depth": depth}


def run(model, tasks, balancer_name, level, num_steps=2, mode="pmap"):
  """``num_steps`` steps on 8 devices: (initial state, final state, last step's metrics, dp)."""
  balancer = balancers.get(balancer_name, num_tasks=len(tasks))
  tx = optax.adam(1e-2)
  dp = parallel.DataParallel(mode, 8)
  state = train_state.create(jax.random.PRNGKey(0), model, tasks, balancer, tx, (H, W, 3))
  initial = jax.device_get(state)
  step = dp.compile(functools.partial(train.train_step, model=model, tasks=tasks,
                                      balancer=balancer, tx=tx, level=level), donate_argnums=(0,))
  state = dp.replicate(state)
  for i in range(num_steps):
    state, metrics = step(state, dp.shard_batch(make_batch(i)))
  return initial, state, jax.device_get(dp.unreplicate(metrics)), dp


def changed(before, after) -> dict:
  """Top-level entry -> whether any of its leaves changed."""
  return {k: any(not np.array_equal(a, b) for a, b in zip(
      jax.tree_util.tree_leaves(before[k]), jax.tree_util.tree_leaves(after[k])))
          for k in before}
