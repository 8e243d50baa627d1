"""PCGrad against an independent NumPy implementation of Yu et al.'s Algorithm 1."""

import itertools

import numpy as np

import balancer_inputs as inputs


def pcgrad_reference(jac: np.ndarray, orders) -> np.ndarray:
  """sum_i g_i^PC, projecting g_i on the normal plane of each conflicting g_j in orders[i]."""
  g = jac.astype(np.float64)
  total = np.zeros(g.shape[1])
  for i, order in enumerate(orders):
    gi = g[i].copy()
    for j in order:
      dot = gi @ g[j]
      if j != i and dot < 0 and g[j] @ g[j] > 0:
        gi -= dot / (g[j] @ g[j]) * g[j]
    total += gi
  return total


def test_two_tasks_matches_reference_and_does_not_conflict():
  updates, _, _ = inputs.t2("pcgrad")
  for i in range(inputs.T2_PAIRS):
    jac = inputs.T2_BATCH[i]
    ref = pcgrad_reference(jac, [[1], [0]])
    np.testing.assert_allclose(updates[i], ref, rtol=1e-5, atol=1e-6)
    if i < inputs.T2_PAIRS - 1:  # conflicting pairs
      assert jac[0] @ jac[1] < 0
      g = jac.astype(np.float64)
      g1 = g[0] - (g[0] @ g[1]) / (g[1] @ g[1]) * g[1]
      g2 = g[1] - (g[1] @ g[0]) / (g[0] @ g[0]) * g[0]
      assert abs(g1 @ g[1]) < 1e-9 and abs(g2 @ g[0]) < 1e-9
      # the update is g1 + g2: it conflicts with neither task
      assert (jac @ updates[i] >= -1e-5 * np.abs(jac).max() ** 2).all()


def test_three_tasks_is_one_of_the_random_orders():
  r = inputs.t3("pcgrad")
  others = [[j for j in range(3) if j != i] for i in range(3)]
  for i, fam in enumerate(inputs.FAMILY_NAMES):
    jac = inputs.FAMILIES[fam]
    candidates = [pcgrad_reference(jac, orders) for orders in
                  itertools.product(*[list(itertools.permutations(o)) for o in others])]
    errors = [np.abs(r.updates[i] - c).max() for c in candidates]
    assert min(errors) <= 1e-5 * np.abs(jac).max() + 1e-30, (fam, errors)


def test_mean_reduction():
  total, _, _ = inputs.t2("pcgrad")
  mean, _, _ = inputs.t2("pcgrad", reduction="mean")
  np.testing.assert_allclose(mean, total / 2, rtol=1e-6, atol=1e-7)
