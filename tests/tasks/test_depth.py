"""Tests of mtl_jax.tasks.depth against NumPy references written here."""

import jax
import jax.numpy as jnp
import numpy as np

from mtl_jax.tasks.depth import Depth


def ref(pred, gt):
  """(L1 sum, count, abs_err, rel_err) over valid pixels, float64."""
  pred = np.asarray(pred, np.float64)[..., 0].ravel()
  gt = np.asarray(gt, np.float64).ravel()
  valid = np.isfinite(gt) & (gt > 0)
  err = np.abs(pred[valid] - gt[valid])
  return err.sum(), int(valid.sum()), err.mean(), (err / gt[valid]).mean()


def evaluate(task, batches):
  update = jax.jit(task.metric_update)
  acc = task.metric_init()
  for pred, gt in batches:
    acc = update(acc, jnp.asarray(pred), {"depth": jnp.asarray(gt)})
  return {k: float(v) for k, v in jax.jit(task.metric_result)(acc).items()}


def random_batch(rng, shape):
  pred = rng.uniform(0.0, 5.0, size=(*shape, 1)).astype(np.float32)
  gt = rng.uniform(0.5, 5.0, size=shape).astype(np.float32)
  gt[rng.random(shape) < 0.2] = 0.0
  gt.flat[:4] = [np.nan, np.inf, -1.0, -np.inf]  # All invalid.
  return pred, gt


def test_hand_example():
  task = Depth()
  pred = jnp.array([[[[1.0], [4.0], [7.0], [2.0]]]])
  gt = jnp.array([[[2.0, 2.0, 0.0, np.nan]]])
  total, count = jax.jit(task.loss_terms)(pred, {"depth": gt})
  assert (float(total), int(count)) == (3.0, 2)
  results = evaluate(task, [(pred, gt)])
  # |1 - 2| = 1 and |4 - 2| = 2: abs (1 + 2) / 2, rel (1/2 + 2/2) / 2.
  np.testing.assert_allclose([results["abs_err"], results["rel_err"]], [1.5, 0.75], rtol=1e-7)


def test_random_matches_reference():
  rng = np.random.default_rng(0)
  task = Depth()
  pred, gt = random_batch(rng, (2, 6, 7))
  total, count = jax.jit(task.loss_terms)(jnp.asarray(pred), {"depth": jnp.asarray(gt)})
  ref_total, ref_count, ref_abs, ref_rel = ref(pred, gt)
  assert count.dtype == jnp.int32 and int(count) == ref_count
  np.testing.assert_allclose(float(total), ref_total, rtol=1e-5)
  results = evaluate(task, [(pred, gt)])
  np.testing.assert_allclose([results["abs_err"], results["rel_err"]], [ref_abs, ref_rel],
                             rtol=1e-5)


def test_all_invalid_batch_and_finite_gradients():
  task = Depth()
  pred = jnp.ones((1, 2, 3, 1), jnp.float32)
  gt = jnp.array([[[0.0, np.nan, np.inf], [-2.0, 0.0, -np.inf]]], jnp.float32)
  total, count = jax.jit(task.loss_terms)(pred, {"depth": gt})
  assert float(total) == 0.0 and int(count) == 0
  grad = jax.jit(jax.grad(lambda p: task.loss_terms(p, {"depth": gt})[0]))(pred)
  assert np.all(np.asarray(grad) == 0.0)
  results = evaluate(task, [(pred, gt)])
  assert np.isnan(results["abs_err"]) and np.isnan(results["rel_err"])


def test_gradient_is_sign_on_valid_pixels():
  task = Depth()
  pred = jnp.array([[[[1.0], [3.0], [5.0]]]])
  gt = jnp.array([[[2.0, 2.0, np.nan]]])
  grad = jax.grad(lambda p: task.loss_terms(p, {"depth": gt})[0])(pred)
  np.testing.assert_array_equal(np.asarray(grad)[0, 0, :, 0], [-1.0, 1.0, 0.0])


def test_accumulation_is_over_the_whole_set_not_a_mean_of_batches():
  task = Depth()
  # Batch 1: one valid pixel with error 4. Batch 2: three valid pixels, error 0.
  batch1 = (np.array([[[[5.0], [9.0]]]], np.float32), np.array([[[1.0, 0.0]]], np.float32))
  batch2 = (np.full((1, 1, 3, 1), 2.0, np.float32), np.full((1, 1, 3), 2.0, np.float32))
  results = evaluate(task, [batch1, batch2])
  whole = ref(np.concatenate([batch1[0].reshape(-1, 1), batch2[0].reshape(-1, 1)]),
              np.concatenate([batch1[1].ravel(), batch2[1].ravel()]))
  np.testing.assert_allclose([results["abs_err"], results["rel_err"]], whole[2:], rtol=1e-6)
  assert whole[2] == 1.0 and whole[3] == 1.0  # 4 / 4 pixels.
  mean_of_batches = np.mean([ref(*batch1)[2:], ref(*batch2)[2:]], axis=0)
  np.testing.assert_array_equal(mean_of_batches, [2.0, 2.0])  # Differs.


def test_accumulators_combine_by_psum():
  rng = np.random.default_rng(1)
  task = Depth()
  pred, gt = random_batch(rng, (2, 4, 5))

  def per_device(p, g):
    return jax.lax.psum(task.metric_update(task.metric_init(), p, {"depth": g}), "data")

  summed = jax.pmap(per_device, axis_name="data", devices=jax.devices()[:2])(pred, gt)
  whole = task.metric_update(task.metric_init(), pred, {"depth": gt})
  assert int(summed["count"][0]) == int(whole["count"])
  np.testing.assert_allclose(summed["abs_sum"][0], whole["abs_sum"], rtol=1e-6)
  np.testing.assert_allclose(summed["rel_sum"][1], whole["rel_sum"], rtol=1e-6)


def test_interface():
  task = Depth()
  pred = jnp.arange(6.0).reshape(1, 2, 3, 1)
  np.testing.assert_array_equal(jax.jit(task.predict)(pred), pred[..., 0])
  assert task.name == "depth" and task.channels == 1
  assert task.higher_is_better == {"abs_err": False, "rel_err": False}
  assert set(task.metric_result(task.metric_init())) == set(task.higher_is_better)

