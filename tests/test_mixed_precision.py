"""``config.model.dtype="bfloat16"``: the passes compute in bfloat16; everything kept is float32.

Checked on one step of the smallest HPS: the state's dtypes, what each kind of balancer is
given at each level (traced), and the step's losses and update against the float32 step's.
"""

import functools
import importlib
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from mtl_jax import balancers
from mtl_jax import build
from mtl_jax import parallel
from mtl_jax import train
from mtl_jax import train_state
from mtl_jax.balancers import base

import test_train_balancers as setup

BF16 = jnp.dtype("bfloat16")


class _SpyState(NamedTuple):
  weights: jax.Array


def _spy(seen):
  """A gradient-kind balancer (EW) that records the dtypes of what it is given."""
  def init(params):
    return _SpyState(jnp.ones((2,), jnp.float32))

  def update(task_grads, state, params=None, *, task_losses=None, key=None, **extra):
    seen["grads"] = {leaf.dtype for leaf in jax.tree_util.tree_leaves(task_grads)}
    seen["losses"] = task_losses.dtype
    return jax.tree_util.tree_map(lambda g: g.sum(0), task_grads), state
  return base.Balancer(init, update)


def _gramian_spy(seen):
  def weigh_gramian(gram, state, *, task_losses=None, key=None):
    seen["gram"] = gram.dtype
    return jnp.ones((2,), jnp.float32), state
  return base.gramian_weighting(2, "spy", lambda p: _SpyState(jnp.ones((2,), jnp.float32)),
                                weigh_gramian)


def _step(model, variables, balancer, level, dtype, batch, trace_only=False):
  tx = optax.sgd(0.1)
  state = train_state.TrainState(
      step=np.zeros((), np.int32), params=variables["params"],
      batch_stats=variables["batch_stats"], opt_state=tx.init(variables["params"]),
      balancer_state=balancer.init(None), rng=jax.random.PRNGKey(1))
  dp = parallel.DataParallel("shard_map", 1)
  step = dp.compile(functools.partial(train.train_step, model=model, tasks=setup.TASKS,
                                      balancer=balancer, tx=tx, level=level, dtype=dtype))
  if trace_only:  # What the balancer is given is known once traced.
    return jax.eval_shape(step, state, batch)
  return jax.device_get(step(state, dp.shard_batch(batch)))


@pytest.mark.parametrize("level, given", [("features", BF16), ("params", jnp.float32)])
def test_balancers_get_float32_gramians_and_the_documented_gradients(level, given,
                                                                     setup_model):
  # Feature level: the representation's gradients in the compute dtype; parameter level:
  # parameter gradients (float32). Gramians and losses: float32.
  model, variables = setup_model
  seen = {}
  _step(model, variables, _spy(seen), level, BF16, setup.make_batch(0), trace_only=True)
  assert seen["grads"] == {jnp.dtype(given)}, seen
  assert seen["losses"] == jnp.float32
  _step(model, variables, _gramian_spy(seen), level, BF16, setup.make_batch(0),
        trace_only=True)
  assert seen["gram"] == jnp.float32


@pytest.mark.parametrize("name, level", [("ew", "params"), ("imtl_g", "features")])
def test_a_bfloat16_step_keeps_float32_state_and_is_the_float32_step_to_bf16_precision(
    name, level, setup_model):
  model, variables = setup_model
  balancer = balancers.get(name, num_tasks=2)
  batch = setup.make_batch(1)
  full, full_metrics = _step(model, variables, balancer, level, None, batch)
  half, half_metrics = _step(model, variables, balancer, level, BF16, batch)
  for tree in (half.params, half.batch_stats, half.opt_state, half.balancer_state):
    dtypes = {leaf.dtype for leaf in jax.tree_util.tree_leaves(tree)
              if jnp.issubdtype(leaf.dtype, jnp.floating)}
    assert dtypes <= {jnp.dtype(jnp.float32)}, dtypes
  for key in full_metrics:
    np.testing.assert_allclose(half_metrics[key], full_metrics[key], rtol=3e-2, err_msg=key)
  # The update itself: the same direction, to bfloat16's 8 bits of mantissa.
  delta = lambda s: np.concatenate([
      (np.asarray(a, np.float64) - np.asarray(b, np.float64)).ravel() for a, b in zip(
          jax.tree_util.tree_leaves(s.params), jax.tree_util.tree_leaves(variables["params"]))])
  d_full, d_half = delta(full), delta(half)
  cosine = d_full @ d_half / np.linalg.norm(d_full) / np.linalg.norm(d_half)
  assert cosine > 0.99, cosine
  assert abs(np.linalg.norm(d_half) / np.linalg.norm(d_full) - 1) < 0.05
  # And bfloat16 changed something (the passes did run in it).
  assert not np.array_equal(d_full, d_half)


def test_config_dtype_is_checked_and_mapped():
  from configs import tiny  # pylint: disable=g-import-not-at-top
  config = tiny.get_config()
  assert build.compute_dtype(config) is None
  config.model.dtype = "bfloat16"
  assert build.compute_dtype(config) == BF16
  config.model.dtype = "float16"
  with pytest.raises(build.ConfigError,
                     match=r"^config\.model\.dtype: unknown value 'float16'; known: bfloat16,"
                           r" float32$"):
    build.experiment(config, with_data=False)


@pytest.fixture(scope="module")
def setup_model():
  from mtl_jax import models  # pylint: disable=g-import-not-at-top
  model = models.get("hps", task_channels={t.name: t.channels for t in setup.TASKS},
                     widths=(4, 8), axis_name=parallel.AXIS)
  variables = jax.jit(functools.partial(model.init, train=False))(
      jax.random.PRNGKey(0), np.zeros((1, setup.H, setup.W, 3), np.float32))
  return model, jax.device_get(variables)


# The networks with operations of their own beyond convolutions and batch norm: SemBoost on
# the dilated ResNet-50 (NYUv2), DenseMTL's attention, MTRAN's CBAM under the HMSA wrapper
# (tracing every shipped config would cost 2 minutes of the suite).
TRACED = ("nyuv2_semboost", "synthetic_densemtl", "synthetic_mtran_hmsa")


@pytest.mark.parametrize("name", TRACED)
def test_every_shipped_config_traces_in_bfloat16_with_float32_parameters(name):
  # At the config's level: no operation meets mismatched dtypes, and the new parameters
  # stay float32 (traced only).
  from mtl_jax.data import modalities  # pylint: disable=g-import-not-at-top
  config = importlib.import_module(f"configs.{name}").get_config()
  config.model.dtype = "bfloat16"
  config.parallel.mode, config.parallel.num_devices = "shard_map", 1
  config.input.batch_size = config.input.eval_batch_size = 2
  exp = build.experiment(config, with_data=False)
  dp = parallel.DataParallel("shard_map", 1)
  height, width = exp.info.image_shape[:2]
  state = jax.eval_shape(functools.partial(
      train_state.create, model=exp.model, tasks=exp.tasks, balancer=exp.balancer, tx=exp.tx,
      image_shape=exp.info.image_shape), jax.random.PRNGKey(0))
  batch = {key: jax.ShapeDtypeStruct(
      (2, height, width) + ((modalities.get(key).channels,) if modalities.get(key).channels
                            else ()), np.dtype(modalities.get(key).dtype))
           for key in exp.input_keys}
  step = dp.compile(functools.partial(
      train.train_step, model=exp.model, tasks=exp.tasks, balancer=exp.balancer, tx=exp.tx,
      level=exp.config.balancer.level, dtype=build.compute_dtype(exp.config)))
  new_state, metrics = jax.eval_shape(step, state, batch)
  assert {leaf.dtype for leaf in jax.tree_util.tree_leaves(new_state.params)} == {
      jnp.dtype(jnp.float32)}
  assert all(m.dtype == jnp.float32 for m in metrics.values())
