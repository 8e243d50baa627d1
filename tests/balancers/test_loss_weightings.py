"""UW, IMTL-L, FAMO, DWA, GLS and RLW on hand-made cases."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from mtl_jax import balancers

import balancer_inputs as inputs

BIG, SMALL = 4.0, 0.25  # task 0 has a large loss, task 1 a small one


def _run(balancer, loss_seq, key=None):
  @inputs.jit
  def run():
    state, out = balancer.init(None), []
    for losses in loss_seq:
      losses = None if losses is None else jnp.asarray(losses, jnp.float32)
      weights, state = balancer.weigh(losses, state, key=key)
      out.append((weights, state))
    return out
  return run()


def test_learnable_scales_move_the_right_way():
  sgd = lambda lr: optax.sgd(lr)
  uw = balancers.uw(num_tasks=2, learning_rate=0.1, optimizer=sgd)
  imtl_l = balancers.imtl_l(num_tasks=2, learning_rate=0.1, optimizer=sgd)
  seq = [[BIG, SMALL]] * 200
  (_, uw_first), *_, (uw_w, uw_last) = _run(uw, seq)
  (_, il_first), *_, (il_w, il_last) = _run(imtl_l, seq)
  # UW: s_t -> log L_t; the large loss gets the small weight exp(-s) = 1 / L.
  np.testing.assert_allclose(uw_first.log_vars, 0.1 * (np.array([BIG, SMALL]) - 1), rtol=1e-5)
  np.testing.assert_allclose(uw_last.log_vars, np.log([BIG, SMALL]), atol=1e-3)
  np.testing.assert_allclose(uw_w, 1 / np.array([BIG, SMALL]), rtol=1e-3)
  # IMTL-L: s_t -> -log L_t, so every scaled loss e^s L -> 1.
  np.testing.assert_allclose(il_first.log_scales, -0.1 * (np.array([BIG, SMALL]) - 1), rtol=1e-5)
  np.testing.assert_allclose(il_last.log_scales, -np.log([BIG, SMALL]), atol=1e-3)
  np.testing.assert_allclose(il_w * np.array([BIG, SMALL]), [1.0, 1.0], rtol=1e-3)


def test_famo_moves_weight_to_the_task_that_improves_least():
  famo = balancers.famo(num_tasks=2)
  # Task 0 halves its loss every step, task 1 is stuck.
  seq = [[0.5 ** k, 1.0] for k in range(6)]
  out = _run(famo, seq)
  w0, s0 = out[0]
  np.testing.assert_allclose(s0.logits, [0.0, 0.0])  # no update before a previous loss exists
  np.testing.assert_allclose(w0 * np.array(seq[0]), [0.5, 0.5], rtol=1e-6)  # z_t / (c L_t) L_t
  logits = np.stack([s.logits for _, s in out])
  assert np.all(np.diff(logits[:, 1] - logits[:, 0]) > 0)  # task 1's logit gains every step
  w, s = out[-1]
  z = np.asarray(jax.nn.softmax(s.logits))
  losses = np.array(seq[-1]) + 1e-8
  np.testing.assert_allclose(w, z / losses / np.sum(z / losses), rtol=1e-5)


def test_dwa_per_step_and_per_period():
  temperature = 2.0
  seq = [[1.0, 1.0], [2.0, 1.0], [1.0, 0.5], [3.0, 1.0], [2.0, 2.0], [1.0, 1.0]]
  per_step = [np.asarray(w) for w, _ in _run(balancers.dwa(num_tasks=2), seq)]
  for k in range(2):
    np.testing.assert_array_equal(per_step[k], [1.0, 1.0])  # equal weights for two steps
  for k in range(2, len(seq)):
    r = np.array(seq[k - 1]) / np.array(seq[k - 2])
    expected = 2 * np.exp(r / temperature) / np.exp(r / temperature).sum()
    np.testing.assert_allclose(per_step[k], expected, rtol=1e-5)
  per_period = [np.asarray(w) for w, _ in _run(balancers.dwa(num_tasks=2, steps_per_period=2), seq)]
  for k in range(4):
    np.testing.assert_array_equal(per_period[k], [1.0, 1.0])
  means = [np.mean(seq[0:2], 0), np.mean(seq[2:4], 0)]
  r = means[1] / means[0]
  expected = 2 * np.exp(r / temperature) / np.exp(r / temperature).sum()
  np.testing.assert_allclose(per_period[4], expected, rtol=1e-5)
  np.testing.assert_allclose(per_period[5], expected, rtol=1e-5)


def test_gls_weights_are_the_gradient_of_the_geometric_mean():
  losses = np.array([0.5, 2.0, 3.0])
  geo = lambda l: np.prod(l) ** (1 / 3)
  eps = 1e-6
  numeric = [(geo(losses + eps * e) - geo(losses - eps * e)) / (2 * eps) for e in np.eye(3)]
  (w, _), = _run(balancers.gls(num_tasks=3), [losses])
  np.testing.assert_allclose(w, numeric, rtol=1e-5)


def test_rlw_draws_from_the_simplex():
  for dist in ("normal", "dirichlet"):
    b = balancers.rlw(num_tasks=4, distribution=dist)
    out = _run(b, [None] * 3)
    draws = np.stack([w for w, _ in out])
    assert np.all(draws > 0) and np.allclose(draws.sum(1), 1.0, atol=1e-6)
    assert not np.allclose(draws[0], draws[1])  # the state's key is split every step
    keyed = _run(b, [None] * 2, key=jax.random.PRNGKey(3))
    np.testing.assert_array_equal(keyed[0][0], keyed[1][0])  # a passed key is used as is


def test_uw_forms_and_the_identity_with_imtl_l():
  """"kendall": exp(-s) L + s, IMTL-L's loss with s negated (identical runs); "libmtl":
  exp(-s) L / 2 + s / 2, half the weights, the same optimum log L."""
  seq = [[BIG, SMALL]] * 200
  sgd = lambda lr: optax.sgd(lr)
  kendall = balancers.uw(num_tasks=2, learning_rate=0.1, optimizer=sgd)
  libmtl = balancers.uw(num_tasks=2, learning_rate=0.1, optimizer=sgd, form="libmtl")
  imtl_l = balancers.imtl_l(num_tasks=2, learning_rate=0.1, optimizer=sgd)
  k_runs, l_runs, i_runs = _run(kendall, seq), _run(libmtl, seq), _run(imtl_l, seq)
  for (kw, ks), (iw, is_) in zip(k_runs, i_runs):
    np.testing.assert_allclose(kw, iw, rtol=1e-6)
    np.testing.assert_allclose(ks.log_vars, -is_.log_scales, rtol=1e-6, atol=1e-7)
  (lw0, ls0), (lw, ls) = l_runs[0], l_runs[-1]
  np.testing.assert_allclose(lw0, [0.5, 0.5])
  np.testing.assert_allclose(ls0.log_vars, 0.05 * (np.array([BIG, SMALL]) - 1), rtol=1e-5)
  np.testing.assert_allclose(ls.log_vars, np.log([BIG, SMALL]), atol=1e-3)
  np.testing.assert_allclose(lw, 0.5 / np.array([BIG, SMALL]), rtol=1e-3)
  with pytest.raises(ValueError, match=r"uw: form must be one of \('kendall', 'libmtl'\)"):
    balancers.uw(num_tasks=2, form="paper")
