"""Tests of mtl_jax.tasks.edges against NumPy references written here from the definitions."""

import jax
import ml_collections
import numpy as np
import pytest

from mtl_jax import build
from mtl_jax import data
from mtl_jax.schema import ConfigError
from mtl_jax.tasks.edges import Edges, edges_from_labels


def ref_edges(labels, num_classes):
  """Per pixel, by loops: -1 if invalid, 1 if a valid 4-neighbour has another class."""
  labels = np.asarray(labels)
  out = np.zeros(labels.shape, np.int64)
  *lead, h, w = labels.shape
  for idx in np.ndindex(*lead, h, w):
    *b, i, j = idx
    v = labels[idx]
    if not 0 <= v < num_classes:
      out[idx] = -1
      continue
    for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1)):
      if 0 <= i + di < h and 0 <= j + dj < w:
        u = labels[tuple(b) + (i + di, j + dj)]
        if 0 <= u < num_classes and u != v:
          out[idx] = 1
  return out


def ref_loss(logits, labels, pos_weight):
  """PyTorch's cross_entropy(weight=(1 - w, w)) over known pixels: (weighted sum, weight sum)."""
  z = np.asarray(logits, np.float64)
  logp = z - z.max(-1, keepdims=True)
  logp -= np.log(np.exp(logp).sum(-1, keepdims=True))
  total = weights = 0.0
  for idx in np.ndindex(*labels.shape):
    y = labels[idx]
    if y in (0, 1):
      w = pos_weight if y == 1 else 1 - pos_weight
      total += -w * logp[idx + (y,)]
      weights += w
  return total, weights


def ref_f1(logits_list, labels_list):
  """(mean F1 of both classes, edge F1), percent, from counts over every batch."""
  tp = np.zeros(2)
  fp = np.zeros(2)
  fn = np.zeros(2)
  for logits, labels in zip(logits_list, labels_list):
    pred = np.asarray(logits).argmax(-1)
    known = (labels == 0) | (labels == 1)
    for c in (0, 1):
      tp[c] += np.sum(known & (pred == c) & (labels == c))
      fp[c] += np.sum(known & (pred == c) & (labels != c))
      fn[c] += np.sum(known & (pred != c) & (labels == c))
  precision, recall = tp / (tp + fp), tp / (tp + fn)
  f1 = 2 * precision * recall / (precision + recall)
  return 100 * f1.mean(), 100 * f1[1]


def test_edges_from_labels_against_loops():
  labels = np.random.default_rng(0).integers(-1, 4, size=(2, 7, 9))
  labels[0, 2:5, 2:6] = 1  # A block, so some pixels are inside a region.
  got = jax.jit(edges_from_labels, static_argnums=1)(labels, 3)  # 3 is invalid too.
  np.testing.assert_array_equal(got, ref_edges(labels, 3))
  np.testing.assert_array_equal(edges_from_labels(labels), ref_edges(labels, 10 ** 6))


@pytest.mark.parametrize("pos_weight", [0.95, 0.6])
def test_loss_is_the_class_weighted_mean_cross_entropy(pos_weight):
  rng = np.random.default_rng(1)
  logits = rng.normal(size=(2, 5, 6, 2)).astype(np.float32) * 3
  labels = rng.integers(-1, 2, size=(2, 5, 6))
  total, weights = Edges(pos_weight=pos_weight).loss_terms(logits, {"edges": labels})
  want_total, want_weights = ref_loss(logits, labels, pos_weight)
  np.testing.assert_allclose(float(total), want_total, rtol=1e-5)
  np.testing.assert_allclose(float(weights), want_weights, rtol=1e-6)


def test_loss_gradient_is_zero_at_unknown_pixels():
  logits = np.random.default_rng(2).normal(size=(1, 3, 4, 2)).astype(np.float32)
  labels = np.array([[[1, 0, -1, 0], [0, -1, 1, 0], [-1, -1, -1, 1]]])
  grad = jax.grad(lambda z: Edges().loss_terms(z, {"edges": labels})[0])(logits)
  assert np.all(np.asarray(grad)[labels < 0] == 0)
  assert np.all(np.abs(np.asarray(grad)[labels >= 0]).sum(-1) > 0)


def test_f1_accumulates_over_batches_not_a_mean_of_batch_scores():
  rng = np.random.default_rng(3)
  task = Edges()
  update = jax.jit(task.metric_update)
  acc = task.metric_init()
  logits_list, labels_list = [], []
  for size in (3, 5):  # Unequal batches: a mean of batch F1s would differ.
    logits = rng.normal(size=(size, 6, 8, 2)).astype(np.float32) + [0.0, -0.8]
    labels = (rng.uniform(size=(size, 6, 8)) < 0.2).astype(np.int64)
    labels[0, 0, :3] = -1
    acc = update(acc, logits, {"edges": labels})
    logits_list.append(logits)
    labels_list.append(labels)
  got = task.metric_result(acc)
  want_f1, want_edge = ref_f1(logits_list, labels_list)
  np.testing.assert_allclose(float(got["f1"]), want_f1, rtol=1e-5)
  np.testing.assert_allclose(float(got["edge_f1"]), want_edge, rtol=1e-5)
  batch_mean = np.mean([ref_f1([a], [b])[1] for a, b in zip(logits_list, labels_list)])
  assert abs(batch_mean - want_edge) > 1e-3


def test_labels_derived_from_segmentation_after_augmentation():
  seg = np.array([[[0, 0, 2, 2], [0, 0, 2, -1]]])
  task = Edges(labels="segmentation", num_classes=3)
  assert task.inputs == ("segmentation",)
  np.testing.assert_array_equal(task.ground_truth({"segmentation": seg}),
                                ref_edges(seg, 3))
  assert Edges().inputs == ("edges",)


def test_options_are_checked():
  with pytest.raises(ValueError, match="pos_weight"):
    Edges(pos_weight=1.0)
  with pytest.raises(ValueError, match="labels: unknown value 'boundaries'"):
    Edges(labels="boundaries")


def _config(dataset, labels=None, **extra):
  return ml_collections.ConfigDict({
      "dataset": {"name": dataset, **extra},
      "tasks": {"names": ("segmentation", "edges"), "segmentation": {},
                "edges": {"pos_weight": 0.95, "labels": labels}}})


def test_build_reads_stored_edges_or_derives_them():
  synthetic = data.DatasetInfo(("segmentation", "depth", "normals", "edges"), 7,
                               tuple("abcdefg"), (8, 8, 3))
  nyu = data.DatasetInfo(("segmentation", "depth", "normals"), 13, tuple("abcdefghijklm"),
                         (8, 8, 3))
  stored = build.build_tasks(_config("synthetic_scenes"), synthetic)[1]
  assert stored.labels == "dataset" and stored.inputs == ("edges",)
  derived = build.build_tasks(_config("nyuv2"), nyu)[1]
  assert derived.labels == "segmentation" and derived.num_classes == 13
  assert build.input_keys([derived]) == ["image", "segmentation"]
  with pytest.raises(ConfigError, match="task 'edges' is not in dataset 'nyuv2'"):
    build.build_tasks(_config("nyuv2", labels="dataset"), nyu)
