"""GradDrop against an independent NumPy computation with the same uniform draws."""

import jax
import numpy as np

import balancer_inputs as inputs


def graddrop_reference(jac: np.ndarray, uniform: np.ndarray) -> np.ndarray:
  g = jac.astype(np.float64)
  total_abs = np.abs(g).sum(0)
  purity = 0.5 * (1 + np.divide(g.sum(0), total_abs, out=np.zeros(g.shape[1:]),
                                where=total_abs > 0))
  keep = ((purity > uniform) & (g > 0)) | ((purity < uniform) & (g < 0))
  return (keep * g).sum(0)


def _uniform(step_key, leaf, shape):
  # The documented draw: U of the i-th leaf from fold_in(key, i).
  return np.asarray(jax.random.uniform(jax.random.fold_in(step_key, leaf), shape), np.float64)


def test_two_tasks_matches_reference():
  updates, _, _ = inputs.t2("graddrop")
  step_key = jax.random.split(inputs.KEY, 1)[0]  # as the runner passes it
  u = _uniform(step_key, 0, (3,))
  for i, jac in enumerate(inputs.T2_BATCH):
    np.testing.assert_allclose(updates[i], graddrop_reference(jac, u), rtol=1e-6, atol=1e-7)
  # torchjd's golden J: columns 1, 2 are all positive (always kept); column 0 keeps one sign.
  assert updates[0][1:].tolist() == [2.0, 2.0] and updates[0][0] in (-4.0, 6.0)


def test_three_tasks_flat_and_per_leaf_match_reference():
  r = inputs.t3("graddrop")
  step_key = jax.random.split(inputs.KEY, inputs.STEPS)[-1]
  for i, fam in enumerate(inputs.FAMILY_NAMES):
    jac = inputs.FAMILIES[fam]
    scale = np.abs(jac).max()
    flat = graddrop_reference(jac, _uniform(step_key, 0, (5,)))
    np.testing.assert_allclose(r.updates[i], flat, rtol=1e-6, atol=1e-6 * scale, err_msg=fam)
    tree = inputs.to_tree(jac)
    a = graddrop_reference(tree["a"].reshape(3, 4), _uniform(step_key, 0, (2, 2)).reshape(4))
    b = graddrop_reference(tree["b"], _uniform(step_key, 1, (1,)))
    np.testing.assert_allclose(r.tree_updates[i], np.concatenate([a, b]), rtol=1e-6,
                               atol=1e-6 * scale, err_msg=fam)


def test_weights_are_kept_norm_shares():
  r = inputs.t3("graddrop")
  step_key = jax.random.split(inputs.KEY, inputs.STEPS)[-1]
  jac = inputs.FAMILIES["random"].astype(np.float64)
  u = _uniform(step_key, 0, (5,))
  total_abs = np.abs(jac).sum(0)
  purity = 0.5 * (1 + jac.sum(0) / total_abs)
  keep = ((purity > u) & (jac > 0)) | ((purity < u) & (jac < 0))
  expected = (keep * jac * jac).sum(1) / (jac * jac).sum(1)
  np.testing.assert_allclose(r.weights[inputs.index("random"), -1], expected, rtol=1e-5)
