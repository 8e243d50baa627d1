"""UPGrad: no conflict with any row, and the projections against SLSQP."""

import numpy as np
import scipy.optimize

import balancer_inputs as inputs


def test_no_conflict_with_any_task():
  r = inputs.t3("upgrad")
  for i, fam in enumerate(inputs.FAMILY_NAMES):
    jac = inputs.FAMILIES[fam].astype(np.float64)
    gram = jac @ jac.T
    # KKT of the regularised dual: <g_t, update> >= -reg_eps tr(G) w_t.
    bound = 1e-4 * np.trace(gram) * np.abs(r.weights[i, -1]) + 1e-5 * np.abs(gram).max()
    assert (jac @ r.updates[i] >= -bound).all(), (fam, jac @ r.updates[i])
  # The conflicting family is resolved: the mean conflicts, UPGrad does not.
  jac = inputs.FAMILIES["random_conflicting"]
  assert (jac @ jac.mean(0)).min() < 0


def projection_reference(jac: np.ndarray) -> np.ndarray:
  """sum_i argmin_{J x >= 0} ||x - g_i / T||^2 by SLSQP in the primal (float64)."""
  g = jac.astype(np.float64)
  total = np.zeros(g.shape[1])
  for gi in g / len(g):
    cons = [{"type": "ineq", "fun": lambda x: g @ x, "jac": lambda x: g}]
    res = scipy.optimize.minimize(lambda x: np.sum((x - gi) ** 2), gi, jac=lambda x: 2 * (x - gi),
                                  method="SLSQP", constraints=cons,
                                  options={"ftol": 1e-15, "maxiter": 1000})
    total += res.x
  return total


def test_projections_match_primal_reference():
  updates, _, _ = inputs.t2("upgrad", reg_eps=0.0)
  for i, jac in enumerate(inputs.T2_BATCH):
    np.testing.assert_allclose(updates[i], projection_reference(jac), rtol=0,
                               atol=1e-4 * np.abs(jac).max(), err_msg=f"pair {i}")
  r = inputs.t3("upgrad")  # default reg_eps: within its (small) effect
  for fam in ("random", "random_conflicting", "random_2"):
    jac = inputs.FAMILIES[fam]
    np.testing.assert_allclose(r.updates[inputs.index(fam)], projection_reference(jac), rtol=0,
                               atol=2e-3 * np.abs(jac).max(), err_msg=fam)
