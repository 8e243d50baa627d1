"""MGDA: the min-norm point of the convex hull of the rows, against SLSQP."""

import numpy as np
import scipy.optimize

import balancer_inputs as inputs


def min_norm_reference(jac: np.ndarray) -> np.ndarray:
  """The min-norm point of conv(rows) by SLSQP on the simplex, in float64."""
  g = jac.astype(np.float64)
  g = g / (np.abs(g).max() or 1.0)
  gram = g @ g.T
  t = len(g)
  res = scipy.optimize.minimize(
      lambda w: w @ gram @ w, np.full(t, 1.0 / t), jac=lambda w: 2 * gram @ w, method="SLSQP",
      bounds=[(0, 1)] * t, constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}],
      options={"ftol": 1e-16, "maxiter": 1000})
  return res.x @ jac.astype(np.float64)


def _check(updates, weights, jac, what):
  ref = min_norm_reference(jac)
  scale = np.abs(jac).max()
  assert np.all(weights >= 0) and abs(weights.sum() - 1) < 1e-5, (what, weights)
  assert np.linalg.norm(updates) <= np.linalg.norm(ref) + 1e-5 * scale, what
  np.testing.assert_allclose(updates, ref, rtol=0, atol=1e-4 * scale, err_msg=what)


def test_min_norm_point_three_tasks():
  r = inputs.t3("mgda")
  for i, fam in enumerate(inputs.FAMILY_NAMES):
    if fam != "all_zero":
      _check(r.updates[i], r.weights[i, -1], inputs.FAMILIES[fam], fam)


def test_min_norm_point_two_tasks():
  updates, weights, _ = inputs.t2("mgda")
  for i, jac in enumerate(inputs.T2_BATCH):
    _check(updates[i], weights[i], jac, f"pair {i}")


def test_l2_normalization_weighs_raw_gradients():
  """Sener & Koltun's "l2": weights of the min-norm point of the unit rows, on the raw rows."""
  updates, weights, _ = inputs.t2("mgda", normalization="l2")
  for i, jac in enumerate(inputs.T2_BATCH):
    unit = jac / np.linalg.norm(jac, axis=1, keepdims=True)
    ref_point = min_norm_reference(unit)
    np.testing.assert_allclose(weights[i] @ unit, ref_point, rtol=0, atol=1e-4)
    np.testing.assert_allclose(updates[i], weights[i] @ jac, rtol=1e-5, atol=1e-6)
