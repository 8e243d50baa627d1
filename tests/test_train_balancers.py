"""Every balancer trains at both levels, and 8 devices give what 1 device gives.

Per-task gradients are summed over devices before a balancer sees them and its
random draws use the same key on every device, so a data-parallel step must
equal a single-device step on the same global batch for every method, random
(RLW, IMTL-RWL, GradDrop) and stateful (DWA, FAMO, UW, IMTL-L) ones included.
Two steps are taken so that the second one starts from an updated balancer
state; every pmap replica must hold the same state afterwards. Loss-level methods take the same path at both levels (one backward pass
of the weighted loss sum), so they run once. The 8-device run sums the
parameter level's per-task gradients a shard per device
(``shard_task_grads``); the 1-device run sums nothing.

Compilation dominates: the network is the smallest HPS (one stage), on 8x8
images, initialised once for the module.
"""

import functools

import jax
import numpy as np
import optax
import pytest

from mtl_jax import balancers
from mtl_jax import models
from mtl_jax import parallel
from mtl_jax import tasks as tasks_lib
from mtl_jax import train
from mtl_jax import task_grads
from mtl_jax.models import partition

import test_train_step as reference

H = W = 8
BATCH, NUM_CLASSES = 8, 3
TASKS = (tasks_lib.get("segmentation", num_classes=NUM_CLASSES), tasks_lib.get("depth"))
LOSS_LEVEL = sorted(n for n in balancers.REGISTRY
                    if not balancers.get(n, num_tasks=2).needs_task_grads)
GRADIENT_LEVEL = sorted(set(balancers.REGISTRY) - set(LOSS_LEVEL))
METHODS = {"params": LOSS_LEVEL + GRADIENT_LEVEL, "features": GRADIENT_LEVEL}


def make_batch(seed):
  rng = np.random.default_rng(seed)
  seg = rng.integers(0, NUM_CLASSES, (BATCH, H, W)).astype(np.int32)
  seg[0] = -1  # One device's examples are all ignored: losses are global means.
  depth = rng.uniform(0.5, 5.0, (BATCH, H, W)).astype(np.float32)
  depth[1:3, :, :4] = 0.0
  image = rng.integers(0, 256, (BATCH, H, W, 3)).astype(np.uint8)
  return {"image": image, "segmentation": seg, "depth": depth}


@pytest.fixture(scope="module")
def model_and_variables():
  model = models.get("hps", task_channels={t.name: t.channels for t in TASKS}, widths=(4,),
                     axis_name=parallel.AXIS)
  variables = jax.jit(functools.partial(model.init, train=False))(
      jax.random.PRNGKey(0), np.zeros((1, H, W, 3), np.float32))
  return model, jax.device_get(variables)


def run(dp, names, level, model, variables, num_steps=2, shard_task_grads=False):
  """``num_steps`` steps of every balancer in ``names``: ``({name: state}, {name: [metrics]})``.

  The methods' steps are independent computations compiled into one
  data-parallel program (one compilation instead of one per method).
  """
  tx = optax.sgd(0.1)
  params = variables["params"]
  shared, _ = partition.split(params, [t.name for t in TASKS])
  methods = {name: balancers.get(name, num_tasks=len(TASKS)) for name in names}
  states = {name: train.TrainState(
      step=np.zeros((), np.int32), params=params, batch_stats=variables["batch_stats"],
      opt_state=tx.init(params), balancer_state=b.init(shared), rng=jax.random.PRNGKey(1))
            for name, b in methods.items()}

  def steps(states, batch):
    out = {name: train.train_step(states[name], batch, model=model, tasks=TASKS, balancer=b,
                                  tx=tx, level=level, shard_task_grads=shard_task_grads)
           for name, b in methods.items()}
    return {n: o[0] for n, o in out.items()}, {n: o[1] for n, o in out.items()}

  step = dp.compile(steps, donate_argnums=(0,))
  states = dp.replicate(states)
  history = {name: [] for name in names}
  for i in range(num_steps):
    states, metrics = step(states, dp.shard_batch(make_batch(i)))
    for name, m in jax.device_get(dp.unreplicate(metrics)).items():
      history[name].append(m)
  if dp.mode == "pmap":  # Every replica holds the same state (no per-device draws).
    for name, state in jax.device_get(states).items():
      for path, leaf in jax.tree_util.tree_leaves_with_path(state):
        for replica in leaf[1:]:
          np.testing.assert_array_equal(
              replica, leaf[0], err_msg=f"{name}: replicas differ at {jax.tree_util.keystr(path)}")
  return jax.device_get(dp.unreplicate(states)), history


@pytest.mark.parametrize("level", task_grads.LEVELS)
def test_every_balancer_trains_and_data_parallel_equals_single_device(level,
                                                                     model_and_variables):
  model, variables = model_and_variables
  names = METHODS[level]
  single, single_history = run(parallel.DataParallel("shard_map", 1), names, level, model,
                               variables)
  # 8 devices with the parameter level's per-task gradients summed a shard each.
  multi, multi_history = run(parallel.DataParallel("pmap", 8), names, level, model, variables,
                             shard_task_grads=True)

  init = jax.tree_util.tree_leaves(variables["params"])
  for name in names:
    leaves = jax.tree_util.tree_leaves(multi[name].params)
    assert all(np.all(np.isfinite(leaf)) for leaf in leaves), name
    assert any(not np.array_equal(a, b) for a, b in zip(leaves, init)), f"{name}: no update"
    try:
      reference.assert_updates_close(multi[name].params, single[name].params,
                                     variables["params"])
      # The balancer's state (weights, learnable scalars, keys, loss history) agrees.
      jax.tree_util.tree_map(
          lambda a, b: np.testing.assert_allclose(np.asarray(a, np.float64),
                                                  np.asarray(b, np.float64), rtol=1e-4,
                                                  atol=1e-6),
          multi[name].balancer_state, single[name].balancer_state)
      for m, s in zip(multi_history[name], single_history[name]):
        assert m.keys() == s.keys()
        for key in m:
          assert np.isfinite(m[key]), (key, m[key])
          np.testing.assert_allclose(m[key], s[key], rtol=1e-4, atol=1e-6, err_msg=key)
    except AssertionError as e:
      raise AssertionError(f"balancer {name!r} at level {level!r}: {e}") from e
    assert int(multi[name].step) == int(single[name].step) == 2


def test_sharded_task_gradients_under_shard_map_equal_summed_ones(model_and_variables):
  # The parameter level's reduce-scatter / Gramian psum / all-gather route under
  # shard_map (whose outputs must be device-invariant) against the plain psum.
  model, variables = model_and_variables
  names = ["imtl_g"]
  dp = parallel.DataParallel("shard_map", 8)
  plain, _ = run(dp, names, "params", model, variables)
  sharded, _ = run(dp, names, "params", model, variables, shard_task_grads=True)
  for name in names:
    reference.assert_updates_close(sharded[name].params, plain[name].params,
                                   variables["params"])
    np.testing.assert_allclose(sharded[name].balancer_state.weights,
                               plain[name].balancer_state.weights, rtol=1e-5, err_msg=name)
