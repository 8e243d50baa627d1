"""Tests of mtl_jax.tasks.segmentation against NumPy references written here."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mtl_jax.tasks.segmentation import Segmentation


def ref_loss(logits, labels, num_classes, ignore_label):
  """(sum of cross-entropy over valid pixels, valid count), float64."""
  logits = np.asarray(logits, np.float64)
  labels = np.asarray(labels)
  valid = (labels != ignore_label) & (labels >= 0) & (labels < num_classes)
  z = logits - logits.max(-1, keepdims=True)
  log_probs = z - np.log(np.exp(z).sum(-1, keepdims=True))
  picked = np.take_along_axis(log_probs, np.where(valid, labels, 0)[..., None], -1)[..., 0]
  return float(-(picked * valid).sum()), int(valid.sum())


def ref_metrics(logits, labels, num_classes, ignore_label):
  """(mIoU %, pixel accuracy %) over all pixels given, by explicit loops."""
  preds = np.asarray(logits).argmax(-1).ravel()
  labels = np.asarray(labels).ravel()
  cm = np.zeros((num_classes, num_classes), np.int64)
  for t, p in zip(labels, preds):
    if t != ignore_label and 0 <= t < num_classes:
      cm[t, p] += 1
  ious = []
  for c in range(num_classes):
    tp, fp, fn = cm[c, c], cm[:, c].sum() - cm[c, c], cm[c, :].sum() - cm[c, c]
    if tp + fp + fn > 0:
      ious.append(tp / (tp + fp + fn))
  return 100 * np.mean(ious), 100 * np.trace(cm) / cm.sum()


def evaluate(task, batches):
  """Accumulates ``batches`` of (logits, labels) under jit; returns the results."""
  update = jax.jit(task.metric_update)
  acc = task.metric_init()
  for logits, labels in batches:
    acc = update(acc, jnp.asarray(logits), {"segmentation": jnp.asarray(labels)})
  return {k: float(v) for k, v in jax.jit(task.metric_result)(acc).items()}


def random_batch(rng, shape, num_classes, ignore_fraction=0.2, ignore_label=-1):
  logits = rng.normal(size=(*shape, num_classes)).astype(np.float32) * 3
  labels = rng.integers(0, num_classes, size=shape).astype(np.int32)
  labels[rng.random(shape) < ignore_fraction] = ignore_label
  return logits, labels


def test_loss_hand_example():
  task = Segmentation(num_classes=2)
  # p(class 1) = 3 / 4 for the first pixel, p(class 0) = 1 / 2 for the second.
  logits = jnp.array([[[[0.0, np.log(3.0)], [5.0, 5.0], [9.0, -9.0]]]], jnp.float32)
  labels = jnp.array([[[1, 0, -1]]], jnp.int32)
  total, count = jax.jit(task.loss_terms)(logits, {"segmentation": labels})
  assert int(count) == 2
  np.testing.assert_allclose(float(total), -np.log(0.75) - np.log(0.5), rtol=1e-6)


@pytest.mark.parametrize("ignore_label", [-1, 255])
def test_loss_matches_reference_random(ignore_label):
  rng = np.random.default_rng(0)
  num_classes = 5
  logits, labels = random_batch(rng, (2, 6, 7), num_classes, ignore_label=ignore_label)
  labels[0, 0, :3] = [num_classes, -3, 99]  # Outside [0, C): ignored too.
  task = Segmentation(num_classes, ignore_label=ignore_label)
  total, count = jax.jit(task.loss_terms)(jnp.asarray(logits), {"segmentation": labels})
  ref_total, ref_count = ref_loss(logits, labels, num_classes, ignore_label)
  assert count.dtype == jnp.int32 and int(count) == ref_count
  assert total.dtype == jnp.float32
  np.testing.assert_allclose(float(total), ref_total, rtol=1e-5)


def test_loss_in_float32_for_bfloat16_logits():
  rng = np.random.default_rng(1)
  logits, labels = random_batch(rng, (1, 4, 4), 3)
  task = Segmentation(3)
  total, _ = jax.jit(task.loss_terms)(jnp.asarray(logits, jnp.bfloat16), {"segmentation": labels})
  assert total.dtype == jnp.float32
  ref_total, _ = ref_loss(np.asarray(jnp.asarray(logits, jnp.bfloat16).astype(jnp.float32)),
                          labels, 3, -1)
  np.testing.assert_allclose(float(total), ref_total, rtol=1e-5)


def test_all_ignored_batch():
  task = Segmentation(num_classes=3)
  logits = jnp.asarray(np.random.default_rng(2).normal(size=(2, 3, 3, 3)), jnp.float32)
  batch = {"segmentation": jnp.full((2, 3, 3), -1, jnp.int32)}
  total, count = jax.jit(task.loss_terms)(logits, batch)
  assert float(total) == 0.0 and int(count) == 0
  grad = jax.jit(jax.grad(lambda p: task.loss_terms(p, batch)[0]))(logits)
  assert np.all(np.asarray(grad) == 0.0)
  results = evaluate(task, [(logits, batch["segmentation"])])
  assert np.isnan(results["miou"]) and np.isnan(results["pixel_acc"])


def test_metrics_hand_example():
  task = Segmentation(num_classes=3)
  # Ground truth 0 0 1 1 | 2 ignored; predictions 0 1 1 1 | 0 2.
  labels = np.array([[[0, 0, 1, 1, 2, -1]]], np.int32)
  preds = np.array([[[0, 1, 1, 1, 0, 2]]])
  logits = np.eye(3, dtype=np.float32)[preds]
  results = evaluate(task, [(logits, labels)])
  # IoU_0 = 1 / (1 + 1 + 1), IoU_1 = 2 / (2 + 1 + 0), IoU_2 = 0 / (0 + 0 + 1).
  np.testing.assert_allclose(results["miou"], 100 * (1 / 3 + 2 / 3 + 0) / 3, rtol=1e-6)
  np.testing.assert_allclose(results["pixel_acc"], 100 * 3 / 5, rtol=1e-6)


def test_one_class_image():
  task = Segmentation(num_classes=4)
  labels = np.full((1, 3, 4), 2, np.int32)
  perfect = np.eye(4, dtype=np.float32)[labels]
  results = evaluate(task, [(perfect, labels)])
  # Classes 0, 1, 3 are absent from ground truth and prediction: left out.
  assert results == {"miou": 100.0, "pixel_acc": 100.0}
  wrong = perfect.copy()
  wrong[0, 0, 0] = np.eye(4)[3]
  results = evaluate(task, [(wrong, labels)])
  np.testing.assert_allclose(results["miou"], 100 * (11 / 12 + 0) / 2, rtol=1e-6)
  np.testing.assert_allclose(results["pixel_acc"], 100 * 11 / 12, rtol=1e-6)


def test_random_metrics_match_reference():
  rng = np.random.default_rng(3)
  task = Segmentation(num_classes=6)
  logits, labels = random_batch(rng, (2, 8, 8), 6)
  results = evaluate(task, [(logits, labels)])
  ref_miou, ref_acc = ref_metrics(logits, labels, 6, -1)
  np.testing.assert_allclose(results["miou"], ref_miou, rtol=1e-5)
  np.testing.assert_allclose(results["pixel_acc"], ref_acc, rtol=1e-5)


def test_accumulation_is_over_the_whole_set_not_a_mean_of_batches():
  task = Segmentation(num_classes=2)
  # Batch 1: one pixel of class 0, right. Batch 2: three pixels of class 1,
  # one wrong, and a pixel of class 0 predicted 1.
  labels1, preds1 = np.array([[[0]]]), np.array([[[0]]])
  labels2, preds2 = np.array([[[1, 1, 1, 0]]]), np.array([[[1, 1, 0, 1]]])
  batches = [(np.eye(2, dtype=np.float32)[p], l.astype(np.int32))
             for p, l in ((preds1, labels1), (preds2, labels2))]
  results = evaluate(task, batches)
  ref = ref_metrics(np.concatenate([b[0].reshape(-1, 2) for b in batches]),
                    np.concatenate([b[1].ravel() for b in batches]), 2, -1)
  np.testing.assert_allclose([results["miou"], results["pixel_acc"]], ref, rtol=1e-6)
  per_batch = [ref_metrics(lg, lb, 2, -1) for lg, lb in batches]
  mean_of_batches = np.mean(per_batch, axis=0)
  assert np.all(np.abs(np.array(ref) - mean_of_batches) > 5.0)  # The two really differ.


def test_accumulators_combine_by_psum():
  rng = np.random.default_rng(4)
  task = Segmentation(num_classes=3)
  logits, labels = random_batch(rng, (2, 5, 5), 3)

  def per_device(lg, lb):
    delta = task.metric_update(task.metric_init(), lg, {"segmentation": lb})
    return jax.lax.psum(delta, "data")

  summed = jax.pmap(per_device, axis_name="data", devices=jax.devices()[:2])(logits, labels)
  whole = task.metric_update(task.metric_init(), logits, {"segmentation": labels})
  np.testing.assert_array_equal(summed["confusion"][0], whole["confusion"])
  np.testing.assert_array_equal(summed["confusion"][1], whole["confusion"])


def test_predict_and_interface():
  task = Segmentation(num_classes=3)
  logits = jnp.array([[[[0.0, 2.0, 1.0], [3.0, 0.0, 1.0]]]])
  np.testing.assert_array_equal(jax.jit(task.predict)(logits), [[[1, 0]]])
  assert task.predict(logits).dtype == jnp.int32
  assert task.name == "segmentation" and task.channels == 3
  assert set(task.higher_is_better) == set(task.metric_result(task.metric_init()))
  assert all(task.higher_is_better.values())
  with pytest.raises(ValueError, match="num_classes"):
    Segmentation(num_classes=0)

