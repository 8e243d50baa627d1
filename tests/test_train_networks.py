"""The real data-parallel training step on every network family, at both levels.

Eight simulated devices, 16x16 images, one-stage networks of width 4.
Single-task networks have no shared parameter: whatever the balancer and the
level, each network must get exactly its own loss's gradient, which is what
equal weights on one device give.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from mtl_jax import balancers
from mtl_jax import models
from mtl_jax import parallel
from mtl_jax import tasks as tasks_lib
from mtl_jax import train
from mtl_jax import task_grads
from mtl_jax import train_state
from mtl_jax.models import partition

H, W, NUM_CLASSES, BATCH, LR = 16, 16, 5, 8, 0.1
# One stage: the step's compilation is what these tests wait for, and it
# doubles with a second stage; the networks' stages are tested in tests/models.
WIDTHS = (4,)


def make_tasks():
  return [tasks_lib.get("segmentation", num_classes=NUM_CLASSES), tasks_lib.get("depth")]


def make_model(name, axis_name=parallel.AXIS):
  return models.get(name, task_channels={t.name: t.channels for t in make_tasks()},
                    widths=WIDTHS, axis_name=axis_name)


def make_batch(seed):
  rng = np.random.default_rng(seed)
  return {"image": rng.integers(0, 256, (BATCH, H, W, 3)).astype(np.uint8),
          "segmentation": rng.integers(-1, NUM_CLASSES, (BATCH, H, W)).astype(np.int32),
          "depth": rng.uniform(0.5, 5.0, (BATCH, H, W)).astype(np.float32)}


def initial_state(model, balancer):
  """``train.create_train_state``'s state, its parameters drawn by NumPy.

  ``create_train_state`` is traced (it must handle every network, one with no
  shared parameter included) but not compiled: an init program per network
  would cost as much as its training step.
  """
  template = jax.eval_shape(lambda: train_state.create(
      jax.random.PRNGKey(0), model, make_tasks(), balancer, optax.sgd(LR), (H, W, 3)))
  rng = np.random.default_rng(0)
  params = jax.tree_util.tree_map(
      lambda s: (rng.normal(size=s.shape) / np.sqrt(np.prod(s.shape[:-1]))).astype(s.dtype)
      if len(s.shape) > 1 else np.ones(s.shape, s.dtype), template.params)
  stats = jax.tree_util.tree_map_with_path(  # Batch norm's initial mean 0 and variance 1.
      lambda path, s: np.full(s.shape, jax.tree_util.keystr(path).endswith("['var']"), s.dtype),
      template.batch_stats)
  shared, _ = partition.split(params, [t.name for t in make_tasks()])
  return template.replace(step=np.int32(0), params=params, batch_stats=stats,
                          opt_state=optax.sgd(LR).init(params),
                          balancer_state=balancer.init(shared),
                          rng=np.asarray(jax.random.PRNGKey(1)))


def run(name, level, balancer, num_steps):
  """``num_steps`` steps of ``train.train_step`` on 8 devices: (initial, final state, metrics)."""
  tasks, model = make_tasks(), make_model(name)
  dp = parallel.DataParallel("shard_map", 8)
  step = dp.compile(functools.partial(train.train_step, model=model, tasks=tasks,
                                      balancer=balancer, tx=optax.sgd(LR), level=level))
  init = initial_state(model, balancer)
  state, history = dp.replicate(init), []
  for i in range(num_steps):
    state, metrics = step(state, dp.shard_batch(make_batch(i)))
    history.append(jax.device_get(dp.unreplicate(metrics)))
  return init, jax.device_get(dp.unreplicate(state)), history


def leaf_change(a, b):
  return sum(float(np.abs(np.asarray(x) - np.asarray(y)).sum())
             for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))


@pytest.fixture(scope="module")
def single_task_reference():
  """One SGD step on the sum of the global-batch mean losses, one device, no axis."""
  tasks, model = make_tasks(), make_model("single_task", axis_name=None)
  init = initial_state(model, balancers.ew(2))
  batch = make_batch(0)

  @jax.jit
  def step(params, stats):
    def loss(params):
      preds, mutated = model.apply({"params": params, "batch_stats": stats},
                                   batch["image"].astype(jnp.float32) / 255, train=True,
                                   mutable=["batch_stats"])
      total = sum(s / c for s, c in (t.loss_terms(preds[t.name], batch) for t in tasks))
      return total, mutated["batch_stats"]
    grads, stats = jax.grad(loss, has_aux=True)(params)
    return jax.tree_util.tree_map(lambda p, g: p - LR * g, params, grads), stats

  return init.params, step(init.params, init.batch_stats)


@pytest.mark.parametrize("level", task_grads.LEVELS)
def test_single_task_networks_get_their_own_gradient_with_any_balancer(
    level, single_task_reference):
  init_params, (ref_params, ref_stats) = single_task_reference
  # IMTL-RWL: a gradient-level method with random weights; they must change nothing.
  _, state, (metrics,) = run("single_task", level, balancers.get("imtl_rwl", num_tasks=2), 1)
  def check(path, new, ref, old):
    new, ref, old = (np.asarray(x, np.float64) for x in (new, ref, old))
    scale = np.abs(ref - old).max()
    np.testing.assert_allclose(new - old, ref - old, rtol=0, atol=2e-3 * scale + 1e-9,
                               err_msg=jax.tree_util.keystr(path))
  jax.tree_util.tree_map_with_path(check, state.params, ref_params, init_params)
  jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6),
                         state.batch_stats, ref_stats)
  assert all(np.isfinite(v) for v in metrics.values())


@pytest.mark.parametrize("name,level", [("mtran", "params"), ("mtran", "features"),
                                        ("mtan", "features"), ("cross_stitch", "features")])
def test_network_trains_with_a_gradient_balancer(name, level):
  init, state, history = run(name, level, balancers.get("imtl_rwl", num_tasks=2), 2)
  assert int(state.step) == 2
  for metrics in history:
    assert all(np.isfinite(float(v)) for v in metrics.values()), metrics
  shared, specific = partition.split(state.params, ["segmentation", "depth"])
  shared0, specific0 = partition.split(init.params, ["segmentation", "depth"])
  assert leaf_change(shared, shared0) > 0
  for task in specific:
    assert leaf_change(specific[task], specific0[task]) > 0, task
  assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree_util.tree_leaves(state.params))
