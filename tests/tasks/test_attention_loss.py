"""SemBoost's attention-driven loss against NumPy references written here.

Depth task with ``loss="attention"`` (depth-aware loss and joint gradient loss)
and segmentation with ``loss="focal"``, jitted, on hand-made inputs with the
boundary cases: d = d*, depths near 1 and below, non-positive predictions,
invalid depth, ignored labels, a one-class image, an all-ignored batch.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mtl_jax.tasks import depth_attention_loss
from mtl_jax.tasks.depth import Depth
from mtl_jax.tasks.segmentation import Segmentation

K = 4
SOBEL_H = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float64)


def np_distance(x, kind, beta):
  if kind == "smooth_l1":
    return np.where(np.abs(x) < beta, 0.5 * x * x / beta, np.abs(x) - 0.5 * beta)
  return np.abs(x) if kind == "l1" else x * x


def np_weight(d, t, image_max):
  """α + λ for one pixel with log(1 + x) in place of log (see the module's docstring)."""
  g = lambda x: np.log(1.0 + max(x, 0.0))
  return t / image_max + 1.0 - min(g(d), g(t)) / max(g(d), g(t))


def np_gradient_loss(pred, target, defined):
  total, count = 0.0, 0
  for b in range(pred.shape[0]):
    for i in range(1, pred.shape[1] - 1):
      for j in range(1, pred.shape[2] - 1):
        win = (b, slice(i - 1, i + 2), slice(j - 1, j + 2))
        if defined[win].all():
          total += abs(np.sum(SOBEL_H * pred[win]) - np.sum(SOBEL_H * target[win]))
          total += abs(np.sum(SOBEL_H.T * pred[win]) - np.sum(SOBEL_H.T * target[win]))
          count += 1
  return total, count


def np_depth_attention(pred, gt, labels, kind="smooth_l1", beta=1.0):
  """(sums [3], counts [3]) of L_DA, L_g(d, d*), L_g(d, s), float64 loops."""
  pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
  with np.errstate(invalid="ignore"):
    valid = np.isfinite(gt) & (gt > 0)
  da = 0.0
  s = np.zeros_like(gt)
  s_defined = np.zeros(gt.shape, bool)
  for b in range(gt.shape[0]):
    image_max = gt[b][valid[b]].max() if valid[b].any() else 1.0
    for i, j in zip(*np.nonzero(valid[b])):
      d, t = pred[b, i, j], gt[b, i, j]
      da += np_weight(d, t, image_max) * np_distance(d - t, kind, beta)
    for i in range(gt.shape[1]):
      for j in range(gt.shape[2]):
        same = (labels[b] == labels[b, i, j]) & valid[b]
        if 0 <= labels[b, i, j] < K and same.any():
          s[b, i, j], s_defined[b, i, j] = gt[b][same].mean(), True
  g_gt = np_gradient_loss(pred, np.where(valid, gt, 0.0), valid)
  g_s = np_gradient_loss(pred, s, s_defined)
  return np.array([da, g_gt[0], g_s[0]]), np.array([valid.sum(), g_gt[1], g_s[1]])


def hand_batch():
  """Two 5x6 images: boundary cases in the first, one class in the second."""
  rng = np.random.default_rng(0)
  gt = rng.uniform(0.2, 6.0, (2, 5, 6)).astype(np.float32)
  pred = rng.uniform(0.2, 6.0, (2, 5, 6, 1)).astype(np.float32)
  gt[0, 0, :4] = [1.0, 0.999, 1.001, 0.3]  # Near 1 and below.
  pred[0, 0, :4, 0] = [1.0, 1.002, 0.998, 0.5]
  pred[0, 1, :3, 0] = gt[0, 1, :3]  # d = d*.
  pred[0, 2, :2, 0] = [0.0, -0.7]  # Non-positive predictions.
  gt[0, 3, :3] = [0.0, np.nan, -1.0]  # Invalid depth.
  labels = rng.integers(0, K, (2, 5, 6)).astype(np.int32)
  labels[0, 4, :2] = [-1, K]  # Ignored / out of range.
  labels[1] = 2  # One class.
  return pred, gt, labels


@pytest.fixture(scope="module")
def depth_loss():
  task = Depth(loss="attention", num_classes=K)
  return task, jax.jit(task.loss_terms)


def test_depth_attention_terms_match_reference(depth_loss):
  task, loss_terms = depth_loss
  pred, gt, labels = hand_batch()
  sums, counts = loss_terms(jnp.asarray(pred), {"depth": gt, "segmentation": labels})
  ref_sums, ref_counts = np_depth_attention(pred[..., 0], gt, labels)
  np.testing.assert_array_equal(np.asarray(counts), ref_counts)
  np.testing.assert_allclose(np.asarray(sums), ref_sums, rtol=2e-5)
  assert task.inputs == ("depth", "segmentation")


def test_all_invalid_batch_gives_zero_terms_and_zero_gradients(depth_loss):
  _, loss_terms = depth_loss
  pred = jnp.ones((2, 5, 6, 1))
  batch = {"depth": np.zeros((2, 5, 6), np.float32), "segmentation": -np.ones((2, 5, 6), np.int32)}
  sums, counts = loss_terms(pred, batch)
  assert np.asarray(sums).tolist() == [0.0] * 3 and np.asarray(counts).tolist() == [0] * 3
  grads = jax.jit(jax.grad(lambda p: Depth(loss="attention", num_classes=K).loss_terms(
      p, batch)[0].sum()))(pred)
  assert np.all(np.asarray(grads) == 0.0)


def test_weights_at_the_boundary_cases():
  pred, gt, labels = hand_batch()
  del labels
  valid = np.isfinite(gt) & (gt > 0)
  weights = np.asarray(jax.jit(depth_attention_loss.depth_aware_weights)(
      pred[..., 0], gt, valid))
  image_max = gt[0][valid[0]].max()
  alpha = np.where(valid, gt, 0) / image_max
  # d = d*: λ = 0, the weight is α alone (also at d = d* = 1, where log d = 0).
  np.testing.assert_allclose(weights[0, 1, :3], alpha[0, 1, :3], rtol=1e-6)
  np.testing.assert_allclose(weights[0, 0, 0], alpha[0, 0, 0], rtol=1e-6)
  # Near and below 1: finite, λ in [0, 1], matching the reference.
  for j in range(4):
    ref = np_weight(float(pred[0, 0, j, 0]), float(gt[0, 0, j]), float(image_max))
    np.testing.assert_allclose(weights[0, 0, j], ref, rtol=1e-5)
    assert 0.0 <= weights[0, 0, j] - alpha[0, 0, j] <= 1.0
  # d <= 0: λ = 1. Invalid pixels: 0.
  np.testing.assert_allclose(weights[0, 2, :2], alpha[0, 2, :2] + 1.0, rtol=1e-6)
  assert np.all(weights[~valid] == 0.0)


def test_depth_aware_gradient_is_the_weighted_distance_gradient():
  """α_D and λ_D are constants of the loss: dL/dd = (α + λ) ℓ'(d - d*)."""
  pred, gt, _ = hand_batch()
  valid = np.isfinite(gt) & (gt > 0)
  beta = 0.5
  grad = jax.jit(jax.grad(lambda d: depth_attention_loss.depth_aware_terms(
      d, jnp.asarray(gt), jnp.asarray(valid), "smooth_l1", beta)[0]))(jnp.asarray(pred[..., 0]))
  weights = np.asarray(jax.jit(depth_attention_loss.depth_aware_weights)(pred[..., 0], gt, valid))
  x = pred[..., 0].astype(np.float64) - np.where(valid, gt, 0)
  ref = np.where(valid, weights * np.where(np.abs(x) < beta, x / beta, np.sign(x)), 0.0)
  np.testing.assert_allclose(np.asarray(grad), ref, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("kind", depth_attention_loss.DISTANCES)
def test_distances(kind):
  x = np.array([-3.0, -0.4, 0.0, 0.2, 0.7, 2.5], np.float32)
  distance = jax.jit(depth_attention_loss.distance, static_argnums=(2, 3))
  np.testing.assert_allclose(np.asarray(distance(x, np.zeros(6, np.float32), kind, 0.5)),
                             np_distance(x.astype(np.float64), kind, 0.5), rtol=1e-6)


def np_focal(logits, labels, gamma, alpha):
  logits = np.asarray(logits, np.float64)
  p = np.exp(logits - logits.max(-1, keepdims=True))
  p /= p.sum(-1, keepdims=True)
  total, count = 0.0, 0
  for idx in zip(*np.nonzero((labels >= 0) & (labels < K))):
    y = labels[idx]
    total += -(1.0 if alpha is None else alpha[y]) * (1 - p[idx][y]) ** gamma * np.log(p[idx][y])
    count += 1
  return total, count


@pytest.mark.parametrize("gamma,alpha", [(2.0, (0.25, 1.0, 2.0, 0.5)), (0.0, None)])
def test_focal_loss_matches_reference(gamma, alpha):
  rng = np.random.default_rng(1)
  logits = rng.normal(0, 2, (2, 3, 4, K)).astype(np.float32)
  _, _, labels = hand_batch()
  labels = labels[:, :3, :4].copy()
  labels[0, 0, :2] = -1
  task = Segmentation(num_classes=K, loss="focal", focal_gamma=gamma, focal_alpha=alpha)
  loss_terms = jax.jit(task.loss_terms)
  total, count = loss_terms(jnp.asarray(logits), {"segmentation": labels})
  ref_total, ref_count = np_focal(logits, labels, gamma, alpha)
  assert int(count) == ref_count
  np.testing.assert_allclose(float(total), ref_total, rtol=1e-5)
  if gamma == 0.0:  # γ = 0, α = 1: the cross-entropy.
    ce = jax.jit(Segmentation(num_classes=K).loss_terms)(logits, {"segmentation": labels})
    np.testing.assert_allclose(float(total), float(ce[0]), rtol=1e-6)
  ignored = loss_terms(jnp.asarray(logits), {"segmentation": -np.ones_like(labels)})
  assert float(ignored[0]) == 0.0 and int(ignored[1]) == 0


def test_focal_gradient_is_finite_for_confident_pixels_and_small_gamma():
  task = Segmentation(num_classes=K, loss="focal", focal_gamma=0.5)
  logits = jnp.array([[[[200.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]]]])
  labels = jnp.array([[[0, 1]]])
  grad = jax.jit(jax.grad(lambda z: task.loss_terms(z, {"segmentation": labels})[0]))(logits)
  assert np.all(np.isfinite(np.asarray(grad)))
