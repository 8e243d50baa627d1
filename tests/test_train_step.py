"""The training step: data-parallel equals single-device, the gradient paths agree.

Runs with eight simulated CPU devices (see conftest.py). Comparisons are made
after one SGD step, where parameter differences are exactly the gradient
differences times the learning rate.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from mtl_jax import balancers
from mtl_jax import forward
from mtl_jax import models
from mtl_jax import parallel
from mtl_jax import task_grads
from mtl_jax import tasks as tasks_lib
from mtl_jax import train
from mtl_jax import train_state
from mtl_jax.balancers import base

H, W, NUM_CLASSES, BATCH = 16, 16, 5, 16


def make_tasks():
  # Normals are left out on purpose: this tiny network has pixels whose normals
  # output is exactly zero (all four decoder features dead), where the
  # normalised prediction's gradient is ~1/eps; whether a feature at ~0 counts
  # as dead then depends on rounding, and two correct programs disagree.
  return [tasks_lib.get("segmentation", num_classes=NUM_CLASSES), tasks_lib.get("depth")]


def make_model(tasks, axis_name=parallel.AXIS):
  return models.get("hps", task_channels={t.name: t.channels for t in tasks}, widths=(4, 8),
                    axis_name=axis_name)


def make_batch(seed=0):
  """A global batch whose valid pixels are spread unevenly over the examples."""
  rng = np.random.default_rng(seed)
  seg = rng.integers(0, NUM_CLASSES, (BATCH, H, W)).astype(np.int32)
  seg[:3] = -1  # The first device's examples are all ignored...
  seg[5, :8] = -1  # ...others in part.
  depth = rng.uniform(0.5, 5.0, (BATCH, H, W)).astype(np.float32)
  depth[2:7, :, :5] = 0.0
  image = rng.integers(0, 256, (BATCH, H, W, 3)).astype(np.uint8)
  return {"image": image, "segmentation": seg, "depth": depth}


def unit_norm_balancer(num_tasks):
  """A nonlinear test balancer: sum of unit-normalised task gradients.

  Averaging per-device results of such a method is wrong, so it exposes
  balancing before the cross-device reduction.
  """
  def init(params):
    del params
    return balancers.ew(num_tasks).init(None)

  def update(task_grads, state, params=None, **kwargs):
    del params, kwargs
    weights = 1.0 / jnp.sqrt(jnp.diag(base.gramian(task_grads)) + 1e-12)
    return base.combine(task_grads, weights), state._replace(weights=weights)
  return base.Balancer(init, update)


def run(dp, balancer, num_steps=1, **step_kwargs):
  tasks = make_tasks()
  model = make_model(tasks)
  tx = optax.sgd(0.1)
  state = train_state.create(jax.random.PRNGKey(0), model, tasks, balancer, tx, (H, W, 3))
  step = dp.compile(functools.partial(train.train_step, model=model, tasks=tasks,
                                      balancer=balancer, tx=tx, **step_kwargs),
                    donate_argnums=(0,))
  state = dp.replicate(state)
  for i in range(num_steps):
    state, metrics = step(state, dp.shard_batch(make_batch(i)))
  return dp.unreplicate(state), dp.unreplicate(metrics)


def reference_run(num_steps=1):
  """EW written directly: grad of the sum of global-batch mean losses, one device."""
  tasks = make_tasks()
  model = make_model(tasks, axis_name=None)
  tx = optax.sgd(0.1)
  state = train_state.create(jax.random.PRNGKey(0), model, tasks,
                                   balancers.ew(2), tx, (H, W, 3))
  params, stats, opt_state = state.params, state.batch_stats, state.opt_state

  @jax.jit
  def step(params, stats, opt_state, batch):
    def loss(params):
      preds, mutated = model.apply({"params": params, "batch_stats": stats},
                                   batch["image"].astype(jnp.float32) / 255, train=True,
                                   mutable=["batch_stats"])
      total = 0.0
      for task in tasks:
        s, c = task.loss_terms(preds[task.name], batch)
        total += s / c
      return total, mutated["batch_stats"]
    grads, stats = jax.grad(loss, has_aux=True)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), stats, opt_state

  for i in range(num_steps):
    params, stats, opt_state = step(params, stats, opt_state, make_batch(i))
  return params, stats


def initial_params():
  tasks = make_tasks()
  return train_state.create(jax.random.PRNGKey(0), make_model(tasks), tasks,
                                  balancers.ew(2), optax.sgd(0.1), (H, W, 3)).params


def assert_updates_close(new, ref, init, rel=1e-3):
  """Per leaf, ``new - init`` equals ``ref - init`` to ``rel`` of the update's size.

  Real faults (unsynchronised batch norm, means of per-device means, gradients
  balanced per device) differ by percents. Correct programs that sum in another
  order differ by up to ~1.5e-4 of a leaf's largest update: a batch-norm bias
  gradient is a sum of cotangents that the next batch norm makes nearly cancel,
  so its float32 error scales with the terms, not with the result.
  """
  def check(path, n, r, i):
    n, r, i = (np.asarray(x, np.float64) for x in (n, r, i))
    scale = np.abs(r - i).max()
    np.testing.assert_allclose(n - i, r - i, rtol=0, atol=rel * scale + 1e-9,
                               err_msg=jax.tree_util.keystr(path))
  jax.tree_util.tree_map_with_path(check, new, ref, init)


def assert_trees_close(a, b, rtol=2e-5, atol=2e-6):
  jax.tree_util.tree_map(
      lambda x, y: np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol),
      a, b)


@pytest.mark.parametrize("mode", parallel.MODES)
def test_data_parallel_ew_equals_single_device_reference(mode):
  ref_params, ref_stats = reference_run()
  state, _ = run(parallel.DataParallel(mode, 8), balancers.ew(2))
  assert_updates_close(state.params, ref_params, initial_params())
  assert_trees_close(state.batch_stats, ref_stats)
  assert int(state.step) == 1


@pytest.mark.parametrize("level", task_grads.LEVELS)
def test_nonlinear_balancer_sees_global_gradients(level):
  """8 devices give what 1 device gives on the same global batch, pmap and shard_map alike."""
  single, single_metrics = run(parallel.DataParallel("shard_map", 1), unit_norm_balancer(2),
                               level=level)
  for mode in parallel.MODES:
    multi, multi_metrics = run(parallel.DataParallel(mode, 8), unit_norm_balancer(2),
                               level=level)
    assert_updates_close(multi.params, single.params, initial_params())
    for key in single_metrics:
      np.testing.assert_allclose(multi_metrics[key], single_metrics[key], rtol=2e-5)


def test_pmap_replicas_stay_identical():
  dp = parallel.DataParallel("pmap", 8)
  tasks = make_tasks()
  model = make_model(tasks)
  tx = optax.sgd(0.1)
  balancer = unit_norm_balancer(2)
  state = train_state.create(jax.random.PRNGKey(0), model, tasks, balancer, tx, (H, W, 3))
  step = dp.compile(functools.partial(train.train_step, model=model, tasks=tasks,
                                      balancer=balancer, tx=tx))
  state = dp.replicate(state)
  for i in range(3):
    state, _ = step(state, dp.shard_batch(make_batch(i)))
  for leaf in jax.tree_util.tree_leaves(state):
    leaf = np.asarray(leaf)
    assert leaf.shape[0] == 8
    for replica in leaf[1:]:
      np.testing.assert_array_equal(replica, leaf[0])


def test_ew_through_per_task_gradients_equals_one_backward_pass():
  dp = parallel.DataParallel("shard_map", 8)
  fast, fast_metrics = run(dp, balancers.ew(2))
  per_task, per_task_metrics = run(dp, balancers.ew(2), force_task_grads=True)
  assert_updates_close(per_task.params, fast.params, initial_params())
  assert fast_metrics.keys() == per_task_metrics.keys()


def test_feature_level_ew_equals_parameter_level_ew():
  """With equal weights both levels are the gradient of the summed loss."""
  dp = parallel.DataParallel("pmap", 8)
  params_level, _ = run(dp, balancers.ew(2), force_task_grads=True, level="params")
  feature_level, _ = run(dp, balancers.ew(2), force_task_grads=True, level="features")
  assert_updates_close(feature_level.params, params_level.params, initial_params())


def test_step_reports_global_losses_and_weights():
  _, metrics = run(parallel.DataParallel("pmap", 8), unit_norm_balancer(2), num_steps=1)
  assert set(metrics) == {f"{kind}/{t}" for kind in ("loss", "weight")
                          for t in ("segmentation", "depth")}
  # Cross-entropy of a nearly uniform prediction over 5 classes is close to log 5.
  assert abs(float(metrics["loss/segmentation"]) - np.log(NUM_CLASSES)) < 0.5
  assert all(np.isfinite(float(v)) for v in metrics.values())


def test_multi_term_losses_are_exact_global_batch_means():
  """Depth's attention loss has 3 terms with different counts; 8 devices, uneven validity."""
  task = tasks_lib.get("depth", loss="attention", num_classes=NUM_CLASSES)
  batch = make_batch(3)
  batch["depth"][:2] = 0.0  # Two devices without valid depth.
  batch["segmentation"][2] = -1
  pred = np.random.default_rng(4).uniform(0.5, 5.0, (BATCH, H, W, 1)).astype(np.float32)
  per_device = jax.pmap(
      lambda p, b: jax.lax.psum(forward.global_mean_losses([task], {"depth": p}, b, "data"), "data"),
      axis_name="data")
  shard = lambda x: x.reshape(8, BATCH // 8, *x.shape[1:])
  loss = per_device(shard(pred), {k: shard(batch[k]) for k in ("depth", "segmentation")})[0]
  sums, counts = jax.jit(task.loss_terms)(pred, batch)
  np.testing.assert_allclose(float(loss[0]), float(np.sum(np.asarray(sums) / np.asarray(counts))),
                             rtol=1e-5)
  assert np.asarray(counts).min() > 0


@pytest.mark.parametrize("level", task_grads.LEVELS)
def test_task_heads_receive_the_balancers_head_weights(level):
  """Task t's parameters get head_weights[t] times their own loss's gradient; shared
  parameters are untouched by the head weights."""
  own = unit_norm_balancer(2)
  scaled = base.Balancer(own.init, own.update,
                         head_weights=lambda state: jnp.array([2.0, 0.5], jnp.float32))
  dp = parallel.DataParallel("shard_map", 8)
  plain, _ = run(dp, own, level=level)
  weighted, _ = run(dp, scaled, level=level)
  init = initial_params()
  for key in init:
    factor = {"heads_segmentation": 2.0, "heads_depth": 0.5}.get(key, 1.0)
    want = jax.tree_util.tree_map(lambda p, i, f=factor: i + f * (p - i), plain.params[key],
                                  init[key])
    assert_updates_close(weighted.params[key], want, init[key])
    if factor != 1.0:  # The weights did change the heads' updates.
      moved = jax.tree_util.tree_leaves(jax.tree_util.tree_map(
          lambda a, b: float(np.abs(np.asarray(a) - np.asarray(b)).max()), weighted.params[key],
          plain.params[key]))
      assert max(moved) > 1e-4
