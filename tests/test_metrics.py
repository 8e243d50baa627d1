"""Tests of mtl_jax.metrics against NumPy references written here."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mtl_jax import metrics


@functools.partial(jax.jit, static_argnums=(1, 2))
def median_of(values, width, num_bins):
  """The histogram median of ``values``, compiled once per shape."""
  return metrics.histogram_median(metrics.histogram(values, width, num_bins), width)


def ref_confusion(labels, preds, num_classes, valid):
  cm = np.zeros((num_classes, num_classes), np.int64)
  for t, p, v in zip(np.ravel(labels), np.ravel(preds), np.ravel(valid)):
    if v and 0 <= t < num_classes and 0 <= p < num_classes:
      cm[t, p] += 1
  return cm


def test_confusion_matrix_matches_reference():
  rng = np.random.default_rng(0)
  labels = rng.integers(-1, 5, size=(3, 7, 5)).astype(np.int32)  # -1 and 4 out of range.
  preds = rng.integers(0, 4, size=(3, 7, 5)).astype(np.int32)
  valid = rng.random((3, 7, 5)) < 0.8
  fn = jax.jit(functools.partial(metrics.confusion_matrix, num_classes=4))
  cm = fn(labels, preds, valid=valid)
  assert cm.dtype == jnp.int32 and cm.shape == (4, 4)
  np.testing.assert_array_equal(cm, ref_confusion(labels, preds, 4, valid))
  np.testing.assert_array_equal(jax.jit(metrics.confusion_matrix, static_argnums=2)(
      labels, preds, 4), ref_confusion(labels, preds, 4, np.ones_like(valid)))


def test_mean_iou_and_pixel_accuracy_hand_example():
  cm = jnp.array([[5, 1, 0, 0], [2, 3, 0, 0], [0, 0, 0, 0], [0, 4, 0, 0]], jnp.int32)
  # IoU_0 = 5 / (5 + 2 + 1), IoU_1 = 3 / (3 + 5 + 2), IoU_2 absent, IoU_3 = 0 / 4.
  np.testing.assert_allclose(jax.jit(metrics.mean_iou)(cm), (5 / 8 + 3 / 10 + 0) / 3, rtol=1e-6)
  np.testing.assert_allclose(jax.jit(metrics.pixel_accuracy)(cm), 8 / 15, rtol=1e-6)
  zeros = jnp.zeros((3, 3), jnp.int32)
  assert np.isnan(metrics.mean_iou(zeros)) and np.isnan(metrics.pixel_accuracy(zeros))


def test_histogram_matches_numpy():
  rng = np.random.default_rng(1)
  values = rng.uniform(0, 10, size=(4, 50)).astype(np.float32)
  valid = rng.random((4, 50)) < 0.7
  counts = jax.jit(metrics.histogram, static_argnums=(1, 2))(values, 0.25, 40, valid)
  ref, _ = np.histogram(values[valid], bins=40, range=(0, 10))
  assert counts.dtype == jnp.int32
  np.testing.assert_array_equal(counts, ref)
  # Out-of-range values land in the end bins; NaNs are not counted.
  out = jax.jit(metrics.histogram, static_argnums=(1, 2))(
      jnp.array([-3.0, 12.0, np.nan, np.inf]), 1.0, 4)
  np.testing.assert_array_equal(out, [1, 0, 0, 2])


@pytest.mark.parametrize("size", [1, 2, 101, 1000])
def test_histogram_median_within_bin_width_of_numpy(size):
  rng = np.random.default_rng(size)
  values = rng.gamma(2.0, 10.0, size=size).astype(np.float32)
  width = 0.05
  median = float(median_of(values, width, int(200 / width)))
  assert abs(median - np.median(values)) <= width


def test_histogram_median_even_count_with_distant_middle_values():
  # Middle values 10.2 and 50.7: the median 30.45 lies in an empty bin.
  values = np.array([1.0, 10.2, 50.7, 60.0], np.float32)
  assert abs(float(median_of(values, 0.1, 1000)) - 30.45) <= 0.1
  assert np.isnan(median_of(np.zeros(0, np.float32), 0.1, 5))


def test_histogram_median_large_counts_are_exact():
  # 2e9 values: beyond float32's exact integers; median is in bin 1 at 1 + 0.5e9 / 1e9.
  median = jax.jit(metrics.histogram_median, static_argnums=1)
  counts = jnp.array([5e8, 1e9, 5e8], jnp.int32)
  np.testing.assert_allclose(float(median(counts, 1.0)), 1.5, atol=1e-6)
  counts = jnp.array([6e8, 1e9, 4e8], jnp.int32)
  np.testing.assert_allclose(float(median(counts, 1.0)), 1.4, atol=1e-6)
  # N = 2**31 - 1, the int32 maximum: the median is the middle of the single bin.
  counts = jnp.array([0, 2**31 - 1, 0], jnp.int32)
  np.testing.assert_allclose(float(median(counts, 1.0)), 1.5, atol=1e-6)


def test_safe_ratio():
  np.testing.assert_allclose(metrics.safe_ratio(jnp.float32(3.0), jnp.int32(4)), 0.75)
  assert np.isnan(metrics.safe_ratio(jnp.float32(0.0), jnp.int32(0)))


def test_flatten():
  flat = metrics.flatten({"segmentation": {"miou": 1.0, "pixel_acc": 2.0},
                          "depth": {"abs_err": 3.0}})
  assert flat == {"segmentation/miou": 1.0, "segmentation/pixel_acc": 2.0,
                  "depth/abs_err": 3.0}


DIRECTIONS = {"segmentation/miou": True, "segmentation/pixel_acc": True,
              "depth/abs_err": False, "depth/rel_err": False}
BASELINES = {"segmentation/miou": 40.0, "segmentation/pixel_acc": 64.0,
             "depth/abs_err": 0.5, "depth/rel_err": 0.2}
RESULTS = {"segmentation/miou": 42.0, "segmentation/pixel_acc": 60.0,
           "depth/abs_err": 0.6, "depth/rel_err": 0.18, "normals/mean_angle": 20.0}


def test_delta_m_hand_example_with_mixed_directions():
  # miou +5%, pixel_acc -6.25%, abs_err 20% worse, rel_err 10% better.
  expected = (5.0 - 6.25 - 20.0 + 10.0) / 4
  assert metrics.delta_m(RESULTS, BASELINES, DIRECTIONS) == pytest.approx(expected, abs=1e-12)
  # Jittable on arrays too.
  as_arrays = lambda d: {k: jnp.float32(v) for k, v in d.items()}
  value = jax.jit(lambda r, b: metrics.delta_m(r, b, DIRECTIONS))(
      as_arrays(RESULTS), as_arrays(BASELINES))
  np.testing.assert_allclose(value, expected, rtol=1e-5)
  assert metrics.delta_m(BASELINES, BASELINES, DIRECTIONS) == 0.0


def test_delta_m_missing_keys():
  with pytest.raises(KeyError, match="depth/rel_err"):
    metrics.delta_m({k: v for k, v in RESULTS.items() if k != "depth/rel_err"},
                    BASELINES, DIRECTIONS)
  with pytest.raises(KeyError, match="segmentation/miou"):
    metrics.delta_m(RESULTS, BASELINES,
                    {k: v for k, v in DIRECTIONS.items() if k != "segmentation/miou"})
  with pytest.raises(ValueError, match="empty"):
    metrics.delta_m(RESULTS, {}, DIRECTIONS)
