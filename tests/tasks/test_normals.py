"""Tests of mtl_jax.tasks.normals against NumPy references written here."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mtl_jax.tasks.normals import Normals


def unit(v):
  return v / np.linalg.norm(v, axis=-1, keepdims=True)


def ref(pred, gt):
  """Loss sum, count and metrics over valid pixels, float64; zero pred -> zero normal."""
  pred = np.asarray(pred, np.float64).reshape(-1, 3)
  gt = np.asarray(gt, np.float64).reshape(-1, 3)
  valid = np.any(gt != 0, axis=-1)
  norm = np.linalg.norm(pred, axis=-1, keepdims=True)
  n = np.divide(pred, norm, out=np.zeros_like(pred), where=norm > 0)
  cos = (n * gt).sum(-1)[valid]
  angle = np.degrees(np.arccos(np.clip(cos, -1, 1)))
  metrics = {"mean_angle": angle.mean(), "median_angle": np.median(angle)}
  for t in (11.25, 22.5, 30):
    metrics[f"within_{t:g}"] = 100 * np.mean(angle < t)
  return (1 - cos).sum(), int(valid.sum()), metrics


def evaluate(task, batches):
  update = jax.jit(task.metric_update)
  acc = task.metric_init()
  for pred, gt in batches:
    acc = update(acc, jnp.asarray(pred), {"normals": jnp.asarray(gt)})
  return {k: float(v) for k, v in jax.jit(task.metric_result)(acc).items()}


def random_batch(rng, shape, invalid_fraction=0.2):
  gt = unit(rng.normal(size=(*shape, 3))).astype(np.float32)
  gt[rng.random(shape) < invalid_fraction] = 0.0
  # Predictions near the ground truth, so every threshold bin is populated.
  pred = (gt + rng.normal(scale=0.4, size=gt.shape)) * rng.uniform(0.5, 3.0, size=(*shape, 1))
  return pred.astype(np.float32), gt


def check_metrics(results, ref_metrics, bin_width):
  for key in ("mean_angle", "within_11.25", "within_22.5", "within_30"):
    np.testing.assert_allclose(results[key], ref_metrics[key], rtol=1e-5, atol=1e-4, err_msg=key)
  assert abs(results["median_angle"] - ref_metrics["median_angle"]) <= bin_width + 1e-4


def test_hand_example():
  task = Normals(bin_width_degrees=0.5)
  z = [0.0, 0.0, 1.0]
  # Angles: 0, 90, 180, 60 (pred at 60 degrees from z), and one invalid pixel.
  pred = np.array([[[[0, 0, 5], [1, 0, 0], [0, 0, -2], [np.sqrt(3), 0, 1], [1, 1, 1]]]],
                  np.float32)
  gt = np.array([[[z, z, z, z, [0, 0, 0]]]], np.float32)
  total, count = jax.jit(task.loss_terms)(jnp.asarray(pred), {"normals": jnp.asarray(gt)})
  assert int(count) == 4
  np.testing.assert_allclose(float(total), 0 + 1 + 2 + 0.5, rtol=1e-6)
  results = evaluate(task, [(pred, gt)])
  np.testing.assert_allclose(results["mean_angle"], (0 + 90 + 180 + 60) / 4, rtol=1e-5)
  assert abs(results["median_angle"] - 75.0) <= 0.5  # (60 + 90) / 2
  assert results["within_11.25"] == results["within_22.5"] == results["within_30"] == 25.0


@pytest.mark.parametrize("bin_width", [0.01, 0.5])
def test_random_matches_reference(bin_width):
  rng = np.random.default_rng(0)
  task = Normals(bin_width_degrees=bin_width)
  pred, gt = random_batch(rng, (2, 9, 11))
  total, count = jax.jit(task.loss_terms)(jnp.asarray(pred), {"normals": jnp.asarray(gt)})
  ref_total, ref_count, ref_metrics = ref(pred, gt)
  assert count.dtype == jnp.int32 and int(count) == ref_count
  np.testing.assert_allclose(float(total), ref_total, rtol=1e-5)
  check_metrics(evaluate(task, [(pred, gt)]), ref_metrics, bin_width)


@pytest.mark.parametrize("seed", [1, 2])
def test_median_within_bin_width_of_numpy(seed):
  rng = np.random.default_rng(seed)
  bin_width = 0.01
  task = Normals(bin_width_degrees=bin_width)
  pred, gt = random_batch(rng, (1, 7, 7), invalid_fraction=0.0)
  pred = pred[:, :, :-1] if seed == 2 else pred  # An even number of pixels too.
  gt = gt[:, :, :-1] if seed == 2 else gt
  results = evaluate(task, [(pred, gt)])
  ref_median = ref(pred, gt)[2]["median_angle"]
  assert abs(results["median_angle"] - ref_median) <= bin_width + 1e-4
  assert abs(results["median_angle"] - ref_median) <= 0.5 * abs(results["mean_angle"] - ref_median)


def test_zero_predictions():
  task = Normals(bin_width_degrees=0.5)
  gt = np.broadcast_to(np.array([0.0, 1.0, 0.0], np.float32), (1, 2, 3, 3)).copy()
  gt[0, 0, 0] = 0.0
  pred = jnp.zeros((1, 2, 3, 3), jnp.float32)
  batch = {"normals": jnp.asarray(gt)}
  total, count = jax.jit(task.loss_terms)(pred, batch)
  assert (float(total), int(count)) == (5.0, 5)  # 1 - 0 per valid pixel.
  assert np.all(np.asarray(jax.jit(task.predict)(pred)) == 0.0)
  grad = jax.jit(jax.grad(lambda p: task.loss_terms(p, batch)[0]))(pred)
  assert np.all(np.isfinite(np.asarray(grad)))
  results = evaluate(task, [(pred, gt)])
  np.testing.assert_allclose(results["mean_angle"], 90.0, rtol=1e-6)
  assert abs(results["median_angle"] - 90.0) <= task.bin_width_degrees
  assert results["within_30"] == 0.0


def test_all_invalid_batch():
  task = Normals(bin_width_degrees=1.0)
  pred = jnp.asarray(np.random.default_rng(3).normal(size=(1, 2, 2, 3)), jnp.float32)
  batch = {"normals": jnp.zeros((1, 2, 2, 3), jnp.float32)}
  total, count = jax.jit(task.loss_terms)(pred, batch)
  assert float(total) == 0.0 and int(count) == 0
  grad = jax.jit(jax.grad(lambda p: task.loss_terms(p, batch)[0]))(pred)
  assert np.all(np.asarray(grad) == 0.0)
  assert all(np.isnan(v) for v in evaluate(task, [(pred, batch["normals"])]).values())


def test_accumulation_is_over_the_whole_set_not_a_mean_of_batches():
  task = Normals(bin_width_degrees=0.1)
  rng = np.random.default_rng(4)
  pred1, gt1 = random_batch(rng, (1, 1, 2), invalid_fraction=0.0)
  pred2, gt2 = random_batch(rng, (1, 5, 5), invalid_fraction=0.0)
  pred2 = -pred2  # Bad predictions: large angles in the big batch.
  results = evaluate(task, [(pred1, gt1), (pred2, gt2)])
  whole = ref(np.concatenate([pred1.reshape(-1, 3), pred2.reshape(-1, 3)]),
              np.concatenate([gt1.reshape(-1, 3), gt2.reshape(-1, 3)]))[2]
  check_metrics(results, whole, 0.1)
  batch_means = [ref(pred1, gt1)[2], ref(pred2, gt2)[2]]
  for key in ("mean_angle", "median_angle"):
    assert abs(np.mean([m[key] for m in batch_means]) - whole[key]) > 10.0


def test_accumulators_combine_by_psum():
  task = Normals(bin_width_degrees=1.0)
  pred, gt = random_batch(np.random.default_rng(5), (2, 4, 4))

  def per_device(p, g):
    return jax.lax.psum(task.metric_update(task.metric_init(), p, {"normals": g}), "data")

  summed = jax.pmap(per_device, axis_name="data", devices=jax.devices()[:2])(pred, gt)
  whole = task.metric_update(task.metric_init(), pred, {"normals": gt})
  for key in ("count", "within", "histogram"):
    np.testing.assert_array_equal(summed[key][0], whole[key], err_msg=key)
  np.testing.assert_allclose(summed["angle_sum"][1], whole["angle_sum"], rtol=1e-6)


def test_interface():
  task = Normals(bin_width_degrees=0.01)
  assert task.num_bins == 18000 and Normals(bin_width_degrees=7.0).num_bins == 26
  assert task.name == "normals" and task.channels == 3
  assert task.higher_is_better == {"mean_angle": False, "median_angle": False,
                                   "within_11.25": True, "within_22.5": True, "within_30": True}
  assert set(task.metric_result(task.metric_init())) == set(task.higher_is_better)
  unit_pred = jax.jit(task.predict)(jnp.array([[[[3.0, 0.0, 4.0]]]]))
  np.testing.assert_allclose(unit_pred, [[[[0.6, 0.0, 0.8]]]], rtol=1e-6)
  with pytest.raises(ValueError, match="bin_width_degrees"):
    Normals(bin_width_degrees=0.0)



def test_validity_is_mtans_channel_sum_by_default():
  """MTAN's mask: channel sum != 0, which also drops a unit normal whose components sum to 0;
  ``valid="nonzero"`` keeps it."""
  s = 1 / np.sqrt(2.0)
  gt = np.array([[[[s, -s, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]]], np.float32)
  pred = np.array([[[[s, -s, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]]], np.float32)
  batch = {"normals": gt}
  total, count = Normals().loss_terms(pred, batch)
  assert int(count) == 1 and float(total) == pytest.approx(1.0)  # Only (0, 0, 1): 1 - 0.
  total, count = Normals(valid="nonzero").loss_terms(pred, batch)
  assert int(count) == 2 and float(total) == pytest.approx(1.0, abs=1e-6)  # + (1 - 1).
  with pytest.raises(ValueError, match=r"valid: unknown value 'all'"):
    Normals(valid="all")
