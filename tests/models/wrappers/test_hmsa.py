"""HMSA: the pairwise attention chain, the wrapper's fusions, a short training run, evaluation."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.models import numpy_resize
from tests.models import wrapper_training as wt
from mtl_jax import models
from mtl_jax import evaluate
from mtl_jax.models import multi_scale


def resize(x, size, antialias=True):
  """The resizing primitive: antialiased (a library call), else PyTorch's plain bilinear
  ``F.interpolate(align_corners=False)`` written out (NVIDIA's, ``numpy_resize``)."""
  x = np.asarray(x)
  if x.shape[1:3] == tuple(size):
    return x
  if not antialias:
    return numpy_resize.upsample(x.astype(np.float64), *size)
  return np.asarray(jax.image.resize(x, (x.shape[0], *size, x.shape[3]), "bilinear"))


def hand_chain(p, a, antialias=True):
  """Scales 2, 1, 0.5 fused by hand: ``p`` and ``a`` map scale -> array at that scale."""
  size = p[1.0].shape[1:3]
  fused = a[1.0] * p[1.0] + (1 - a[1.0]) * resize(p[2.0], size, antialias)  # down(p_2).
  return (resize(a[0.5] * p[0.5], size, antialias)  # 0.5 < 1: up.
          + resize(1 - a[0.5], size, antialias) * fused)


def test_chain_of_constant_maps_is_the_closed_form():
  p = {2.0: 8.0, 1.0: 4.0, 0.5: 2.0}
  a = {2.0: 0.9, 1.0: 0.25, 0.5: 0.5}
  maps = lambda s, v, c: jnp.full((1, int(4 * s), int(4 * s), c), v)
  out = jax.jit(multi_scale.attention_chain, static_argnums=2)(
      [maps(s, p[s], 3) for s in (1.0, 0.5, 2.0)], [maps(s, a[s], 1) for s in (1.0, 0.5, 2.0)],
      (1.0, 0.5, 2.0))
  # p = 0.25 * 4 + 0.75 * 8 = 7 at scale 1; then 0.5 * 2 + 0.5 * 7 = 4.5. a_2 is unused.
  assert out.shape == (1, 4, 4, 3)
  np.testing.assert_allclose(np.asarray(out), 4.5, rtol=1e-6)


def test_plain_resize_is_pytorchs_bilinear_interpolation():
  x = np.random.default_rng(1).normal(size=(2, 9, 12, 3)).astype(np.float32)
  for size in ((4, 6), (5, 7), (18, 24), (9, 5)):
    np.testing.assert_allclose(np.asarray(multi_scale.resize(x, size, antialias=False)),
                               numpy_resize.upsample(x.astype(np.float64), *size), rtol=1e-5,
                               atol=1e-6)
  shrunk = np.asarray(multi_scale.resize(x, (4, 6)))  # Antialiased: another filter.
  assert not np.allclose(shrunk, numpy_resize.upsample(x.astype(np.float64), 4, 6), atol=1e-2)


def test_chain_equals_hand_computed_three_scale_fusion():
  rng = np.random.default_rng(0)
  p = {s: rng.normal(size=(2, int(6 * s), int(8 * s), 3)).astype(np.float32)
       for s in (0.5, 1.0, 2.0)}
  a = {s: rng.uniform(size=(2, int(6 * s), int(8 * s), 1)).astype(np.float32)
       for s in (0.5, 1.0, 2.0)}
  scales = (0.5, 2.0, 1.0)  # Any order.
  out = jax.jit(multi_scale.attention_chain, static_argnums=2)(
      [p[s] for s in scales], [a[s] for s in scales], scales)
  np.testing.assert_allclose(np.asarray(out), hand_chain(p, a), rtol=1e-5, atol=1e-6)
  pair = jax.jit(multi_scale.fuse_pair)(p[0.5], a[0.5], p[1.0])
  np.testing.assert_allclose(np.asarray(pair), resize(a[0.5] * p[0.5], (6, 8))
                             + (1 - resize(a[0.5], (6, 8))) * p[1.0], rtol=1e-5, atol=1e-6)


SCALES = (0.5, 1.0, 2.0)


@pytest.fixture(scope="module")
def trained():
  """Two steps of the real data-parallel step with segmentation and depth fused."""
  tasks = wt.make_tasks()
  model = models.wrap("hmsa", wt.make_network(tasks), tasks=("segmentation", "depth"),
                      attention_width=4)
  initial, state, metrics, dp = wt.run(model, tasks, "imtl_g", "features")
  return model, tasks, initial, state, metrics, dp


@pytest.fixture(scope="module")
def wrapped(trained):
  """The trained network's fusions, each scale's outputs and its plain prediction, jitted once."""
  model, _, _, state, _, dp = trained
  state = jax.device_get(dp.unreplicate(state))
  variables = {"params": state.params, "batch_stats": state.batch_stats}
  x = jax.random.uniform(jax.random.PRNGKey(1), (2, wt.H, wt.W, 3))

  @jax.jit
  def outputs(variables):
    fuse = lambda scales: model.apply(variables, x, scales, method="attention_fusion")
    return ({scales: fuse(scales) for scales in ((1.0,), (1.0, 2.0), SCALES)},
            [model.apply(variables, x, s, method="scale_outputs") for s in SCALES],
            model.apply(variables, x, train=False))
  return variables, outputs


def forced(variables, value):
  """The attention heads' output set to ``sigmoid(value)`` everywhere."""
  params = jax.tree_util.tree_map(lambda v: v, dict(variables["params"]))
  for t in ("segmentation", "depth"):
    head = dict(params[f"hmsa_attention_{t}"])
    conv = dict(head["Conv_0"])
    conv["kernel"] = jnp.zeros_like(conv["kernel"])
    conv["bias"] = jnp.full_like(conv["bias"], value)
    head["Conv_0"] = conv
    params[f"hmsa_attention_{t}"] = head
  return {**variables, "params": params}


def test_scale_one_alone_is_the_plain_network(wrapped):
  variables, outputs = wrapped
  fused, per_scale, plain = outputs(variables)
  for t in ("segmentation", "depth"):
    np.testing.assert_array_equal(fused[(1.0,)][t], plain[t])
    np.testing.assert_array_equal(per_scale[1][0][t], plain[t])


def test_attention_forced_to_one_gives_the_single_scale_prediction(wrapped):
  variables, outputs = wrapped
  fused, per_scale, plain = outputs(forced(variables, 100.0))  # sigmoid(100) == 1 in float32.
  for t in ("segmentation", "depth"):
    np.testing.assert_array_equal(fused[(1.0, 2.0)][t], plain[t])
    # Over 0.5, 1, 2 the chain ends at the smallest scale: up(p_0.5).
    np.testing.assert_allclose(fused[SCALES][t],
                               resize(per_scale[0][0][t], (wt.H, wt.W), antialias=False),
                               rtol=1e-5, atol=1e-6)


def test_wrapper_fusion_is_the_hand_computed_chain(wrapped):
  variables, outputs = wrapped
  fused, per_scale, _ = outputs(variables)
  for t in ("segmentation", "depth"):
    p = {s: np.asarray(o[0][t]) for s, o in zip(SCALES, per_scale)}
    a = {s: np.asarray(o[1][t]) for s, o in zip(SCALES, per_scale)}
    assert 0 < a[0.5].min() and a[0.5].max() < 1 and a[0.5].shape == (2, 8, 8, 1)
    # The wrapper's default resize="bilinear": NVIDIA's plain sampling, also when shrinking.
    np.testing.assert_allclose(fused[SCALES][t], hand_chain(p, a, antialias=False), rtol=1e-5,
                               atol=1e-5)
    assert not np.allclose(hand_chain(p, a, antialias=False), hand_chain(p, a), atol=1e-3)


def test_two_training_steps_then_evaluation_with_fusions(trained):
  model, tasks, initial, state, metrics, dp = trained
  final = jax.device_get(dp.unreplicate(state))
  assert all(np.isfinite(v) for v in metrics.values()), metrics
  assert all(wt.changed(initial.params, final.params).values())
  assert set(wt.changed(initial.params, final.params)) == {
      "shared_encoder", "heads_segmentation", "heads_depth", "hmsa_attention_segmentation",
      "hmsa_attention_depth"}
  fusions = ("average", "attention")
  eval_fn = dp.compile(functools.partial(evaluate.eval_step, model=model, tasks=tasks,
                                         scales=(0.5, 1.0), fusions=fusions))
  keys = evaluate.eval_keys(tasks, model, fusions)
  results = evaluate.evaluate(eval_fn, state, [wt.make_batch(5)], dp, tasks, keys)
  suffixes = ("", "@average", "@attention")
  assert set(results) == {f"{m}{s}" for m in ("segmentation/miou", "segmentation/pixel_acc",
                                                "depth/abs_err", "depth/rel_err")
                          for s in suffixes}
  assert all(np.isfinite(v) for v in results.values())
