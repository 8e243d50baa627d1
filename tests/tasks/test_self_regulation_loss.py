"""Self-Regulation's loss through the segmentation task, against a NumPy reference."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mtl_jax.tasks import self_regulation_loss
from mtl_jax.tasks.segmentation import Segmentation

B, H, W, K, C = 3, 4, 4, 3, 5
LAMBDAS, TAU, WARMUP = (0.2, 0.8, 1.0), 2.0, 5


def np_log_softmax(x):
  x = np.asarray(x, np.float64)
  x = x - x.max(-1, keepdims=True)
  return x - np.log(np.exp(x).sum(-1, keepdims=True))


def np_kl(t, s):
  log_t, log_s = np_log_softmax(t / TAU), np_log_softmax(s / TAU)
  return (np.exp(log_t) * (log_t - log_s)).sum(-1)


def np_reference(out, labels):
  """The four terms (sums, counts) written directly from the paper's definitions."""
  valid = (labels >= 0) & (labels < K)
  seg = 0.0
  for z in (*out["exit_logits"], out["logits"]):
    log_p = np_log_softmax(z)
    seg += sum(-log_p[b, i, j, labels[b, i, j]] for b, i, j in zip(*np.nonzero(valid)))
  cls, images = 0.0, 0
  for b in range(B):
    if not valid[b].any():
      continue
    images += 1
    y = np.array([float((labels[b][valid[b]] == k).any()) for k in range(K)])
    for z in np.asarray(out["class_logits"], np.float64)[:, b]:
      sig = 1 / (1 + np.exp(-z))
      cls += -(y * np.log(sig) + (1 - y) * np.log(1 - sig)).sum()
  sr_f = sum(np_kl(out["teacher"], s).sum() for s in out["students"])
  sr_l = sum(np_kl(out["logits"], e).sum() for e in out["exit_logits"])
  sums = np.array([LAMBDAS[1] * seg, LAMBDAS[0] * cls, LAMBDAS[2] * sr_f, LAMBDAS[2] * sr_l])
  return sums, np.array([valid.sum(), images * K, B * H * W, B * H * W])


def make_out(seed=0):
  rng = np.random.default_rng(seed)
  normal = lambda *shape: rng.normal(0, 1.5, shape).astype(np.float32)
  return {"logits": normal(B, H, W, K), "exit_logits": (normal(B, H, W, K), normal(B, H, W, K)),
          "class_logits": normal(3, B, K), "teacher": np.abs(normal(B, H, W, C)),
          "students": (normal(B, H, W, C), normal(B, H, W, C))}


def make_labels():
  labels = np.random.default_rng(1).integers(0, K, (B, H, W)).astype(np.int32)
  labels[0, 0, :3] = [-1, -1, K]  # Some ignored pixels.
  labels[1] = 1  # One class.
  labels[2] = -1  # All ignored: no image-level target either.
  return labels


@pytest.fixture(scope="module")
def loss_terms():
  task = Segmentation(num_classes=K, sr_lambdas=LAMBDAS, sr_temperature=TAU,
                      sr_warmup_steps=WARMUP)
  return jax.jit(lambda out, labels, step: task.loss_terms(
      out, {"segmentation": labels, "step": step}))


def test_terms_match_reference_and_warm_up(loss_terms):
  out, labels = make_out(), make_labels()
  ref_sums, ref_counts = np_reference(out, labels)
  sums, counts = loss_terms(out, labels, jnp.int32(WARMUP))
  np.testing.assert_array_equal(np.asarray(counts), ref_counts)
  np.testing.assert_allclose(np.asarray(sums), ref_sums, rtol=2e-5)
  # Before the warm-up ends: MEA only.
  sums, counts = loss_terms(out, labels, jnp.int32(WARMUP - 1))
  np.testing.assert_allclose(np.asarray(sums), ref_sums * [1, 1, 0, 0], rtol=2e-5)
  np.testing.assert_array_equal(np.asarray(counts), ref_counts)


def test_all_ignored_batch(loss_terms):
  out = make_out(2)
  sums, counts = loss_terms(out, -np.ones((B, H, W), np.int32), jnp.int32(0))
  ref_sums, ref_counts = np_reference(out, -np.ones((B, H, W), np.int32))
  assert np.asarray(counts)[:2].tolist() == [0, 0] and np.asarray(sums)[:2].tolist() == [0, 0]
  np.testing.assert_array_equal(np.asarray(counts), ref_counts)
  np.testing.assert_allclose(np.asarray(sums), ref_sums * [1, 1, 0, 0], rtol=2e-5)


def test_teachers_get_no_gradient_from_self_regulation():
  out, labels = make_out(3), make_labels()
  valid = jnp.asarray((labels >= 0) & (labels < K))

  def self_regulation(out):
    sums, _ = self_regulation_loss.self_regulation_terms(
        out, jnp.asarray(labels), valid, lambda z, y, v: jnp.zeros(y.shape), LAMBDAS, TAU)
    return sums[2] + sums[3]

  grads = jax.jit(jax.grad(self_regulation))(out)
  assert np.all(np.asarray(grads["teacher"]) == 0) and np.all(np.asarray(grads["logits"]) == 0)
  for student in (*grads["students"], *grads["exit_logits"]):
    assert np.abs(np.asarray(student)).sum() > 0
  # A student equal to its teacher has zero divergence.
  same = dict(out, students=(out["teacher"], out["teacher"]), exit_logits=(out["logits"],) * 2)
  np.testing.assert_allclose(float(jax.jit(self_regulation)(same)), 0.0, atol=1e-5)


def np_script_terms(out):
  """SR-F and SR-L as the authors' trainval.py computes them, written out in NumPy."""
  exits = [np.asarray(e, np.float64) for e in out["exit_logits"]]
  main = np.asarray(out["logits"], np.float64)
  pseudo = exits[0].argmax(-1)  # The shallowest exit's argmax, on every pixel.
  sr_f = 0.0
  for z in (*exits[1:], main):
    log_p = np_log_softmax(z)
    sr_f += -np.take_along_axis(log_p, pseudo[..., None], -1).sum()
  sigmoid = lambda z: 1 / (1 + np.exp(-np.asarray(z, np.float64)))
  target = sigmoid(out["class_logits"][-1])  # The main output's class probabilities.
  sr_l = 0.0
  for z in out["class_logits"][:-1]:
    p = sigmoid(z)
    sr_l += -(target * np.log(p) + (1 - target) * np.log(1 - p)).sum()
  return np.array([LAMBDAS[2] * sr_f, LAMBDAS[2] * sr_l]), np.array([B * H * W, B * K])


def test_script_form_is_the_authors_trainval():
  out, labels = make_out(4), make_labels()
  task = Segmentation(num_classes=K, sr_lambdas=LAMBDAS, sr_form="script")
  sums, counts = jax.jit(lambda o, y: task.loss_terms(o, {"segmentation": y}))(out, labels)
  ref_sums, ref_counts = np_reference(out, labels)
  script_sums, script_counts = np_script_terms(out)
  np.testing.assert_allclose(np.asarray(sums)[:2], ref_sums[:2], rtol=2e-5)  # MEA unchanged.
  np.testing.assert_allclose(np.asarray(sums)[2:], script_sums, rtol=2e-5)
  np.testing.assert_array_equal(np.asarray(counts), [*ref_counts[:2], *script_counts])
  with pytest.raises(ValueError, match=r"sr_form: unknown value 'both'"):
    Segmentation(num_classes=K, sr_form="both")
