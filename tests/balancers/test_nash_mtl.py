"""Nash-MTL: G alpha = 1 / alpha, and the max_norm step bound."""

import numpy as np

from mtl_jax import balancers

import balancer_inputs as inputs


def _check_alpha(alpha, weights, updates, jac, what):
  g = jac.astype(np.float64)
  gram = g @ g.T
  alpha = alpha.astype(np.float64)
  assert (alpha > 0).all(), what
  np.testing.assert_allclose(alpha * (gram @ alpha), np.ones(len(g)), rtol=1e-3, err_msg=what)
  norm = np.sqrt(alpha @ gram @ alpha)  # = sqrt(T) at the solution
  bounded = alpha * min(1.0, 1.0 / norm)
  np.testing.assert_allclose(weights, bounded, rtol=1e-4, err_msg=what)
  assert np.linalg.norm(updates) <= 1.0 + 1e-4, what


def test_alpha_solves_nash_equation():
  r = inputs.t3("nash_mtl")
  for fam in inputs.FULL_RANK:
    i = inputs.index(fam)
    _check_alpha(r.state.alpha[i], r.weights[i, -1], r.updates[i], inputs.FAMILIES[fam], fam)
  updates, weights, state = inputs.t2("nash_mtl")
  for i, jac in enumerate(inputs.T2_BATCH):
    _check_alpha(state.alpha[i], weights[i], updates[i], jac, f"pair {i}")


def test_update_weights_every_reuses_alpha():
  b = balancers.nash_mtl(num_tasks=2, update_weights_every=2, max_norm=0.0)
  jacs = inputs.T2_BATCH[1:4]

  @inputs.jit
  def run():
    state, out = b.init(None), []
    for jac in jacs:
      _, state = b.update(jac, state)
      out.append(state.weights)
    return out

  w1, w2, w3 = map(np.asarray, run())
  np.testing.assert_array_equal(w2, w1)  # step 2 reuses step 1's alpha
  g = jacs[2].astype(np.float64)
  np.testing.assert_allclose(w3 * (g @ g.T @ w3), 1.0, rtol=1e-3)  # step 3 re-solves
  assert not np.allclose(w3, w1)
