"""IMTL-G, IMTL and IMTL-RWL against the paper's closed form."""

import jax
import numpy as np

from mtl_jax.balancers import base

import balancer_inputs as inputs


def paper_alpha(jac: np.ndarray) -> np.ndarray:
  """Liu et al. 2021, IMTL-G closed form: alpha_{2..T} = g_1 U^T (D U^T)^{-1}."""
  g = jac.astype(np.float64)
  u = g / np.linalg.norm(g, axis=1, keepdims=True)
  d_mat, u_mat = g[0] - g[1:], u[0] - u[1:]
  rest = g[0] @ u_mat.T @ np.linalg.inv(d_mat @ u_mat.T)
  return np.concatenate([[1.0 - rest.sum()], rest])


def test_alpha_matches_paper_closed_form():
  r = inputs.t3("imtl_g")
  for fam in inputs.FULL_RANK:
    np.testing.assert_allclose(r.weights[inputs.index(fam), -1], paper_alpha(inputs.FAMILIES[fam]),
                               rtol=1e-4, atol=1e-6, err_msg=fam)
  updates, weights, _ = inputs.t2("imtl_g")
  for i in range(inputs.T2_PAIRS):
    np.testing.assert_allclose(weights[i], paper_alpha(inputs.T2_BATCH[i]), rtol=1e-4, atol=1e-6)


def test_equal_projections_on_unit_gradients():
  for name in ("imtl_g", "imtl", "imtl_rwl"):
    r = inputs.t3(name)
    for fam in inputs.FULL_RANK:
      jac = inputs.FAMILIES[fam].astype(np.float64)
      proj = (jac / np.linalg.norm(jac, axis=1, keepdims=True)) @ r.updates[inputs.index(fam)]
      np.testing.assert_allclose(proj, np.full(3, proj.mean()), rtol=1e-4, err_msg=f"{name} {fam}")
      assert proj.mean() > 0


def test_imtl_rwl_is_imtl_g_on_dirichlet_scaled_gradients():
  """Weights on raw g_t = lambda_t alpha'_t, alpha' from the closed form on lambda_t g_t."""
  r = inputs.t3("imtl_rwl")
  keys = jax.random.split(inputs.KEY, inputs.STEPS)  # as the runner passes them
  for s in range(inputs.STEPS):
    lam = np.asarray(base.sample_dirichlet(keys[s], 1.0, 3), np.float64)
    assert abs(lam.sum() - 1) < 1e-6 and (lam > 0).all()
    for fam in inputs.FULL_RANK:
      jac = inputs.FAMILIES[fam].astype(np.float64)
      expected = paper_alpha(lam[:, None] * jac) * lam
      np.testing.assert_allclose(r.weights[inputs.index(fam), s], expected, rtol=2e-4, atol=1e-6)


def test_imtl_first_step_is_imtl_g():
  """s = 0 at the first step, so IMTL's first weights are IMTL-G's."""
  np.testing.assert_allclose(inputs.t3("imtl").weights[:, 0], inputs.t3("imtl_g").weights[:, 0],
                             rtol=1e-6, atol=1e-7)
  # and the scales moved (the losses are not all 1): later weights differ
  assert not np.allclose(inputs.t3("imtl").weights[0, -1], inputs.t3("imtl_g").weights[0, -1])
