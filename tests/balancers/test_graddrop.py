"""GradDrop against an independent NumPy computation with the same uniform draws."""

import jax
import numpy as np
import pytest

from mtl_jax import balancers

import balancer_inputs as inputs


def graddrop_reference(jac: np.ndarray, uniform: np.ndarray, leak=None) -> np.ndarray:
  return _kept(jac, uniform, leak).sum(0)


def _kept(jac: np.ndarray, uniform: np.ndarray, leak=None) -> np.ndarray:
  """``(leak_t + (1 - leak_t) M_t) g_t`` per task, ``[T, ...]``."""
  g = jac.astype(np.float64)
  total_abs = np.abs(g).sum(0)
  purity = 0.5 * (1 + np.divide(g.sum(0), total_abs, out=np.zeros(g.shape[1:]),
                                where=total_abs > 0))
  keep = ((purity > uniform) & (g > 0)) | ((purity < uniform) & (g < 0))
  leak = np.zeros(g.shape[0]) if leak is None else np.asarray(leak, np.float64)
  leak = leak.reshape((-1,) + (1,) * (g.ndim - 1))
  return (leak + (1 - leak) * keep) * g


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


def test_leak_and_feature_map_leaves_match_reference():
  # Feature-map-shaped leaves [T, B, H, W, C] (the feature level's gradients), a
  # zero column, and a leak per task: 1 keeps everything (an EW sum for that task).
  leak = [0.25, 0.0, 1.0]
  rng = np.random.default_rng(5)
  tree = {"a": rng.normal(size=(3, 2, 4, 5, 3)).astype(np.float32),
          "b": rng.normal(size=(3, 7)).astype(np.float32)}
  tree["a"][:, 0, 0, 0, :] = 0.0
  b = balancers.graddrop(num_tasks=3, leak=leak)
  key = jax.random.PRNGKey(3)
  updates, state = jax.jit(lambda g: b.update(g, b.init(None), key=key))(tree)
  kept = {name: _kept(g, _uniform(key, i, g.shape[1:]), leak)
          for i, (name, g) in enumerate(sorted(tree.items()))}
  for name in tree:
    np.testing.assert_allclose(updates[name], kept[name].sum(0), rtol=1e-5, atol=1e-6,
                               err_msg=name)
  np.testing.assert_array_equal(updates["a"][0, 0, 0], 0.0)
  shares = sum((kept[n] * tree[n]).reshape(3, -1).sum(1) for n in tree) / sum(
      np.square(tree[n].astype(np.float64)).reshape(3, -1).sum(1) for n in tree)
  np.testing.assert_allclose(state.weights, shares, rtol=1e-5)
  assert state.weights[2] == 1.0 and 0.25 <= state.weights[0] < 1.0


@pytest.mark.parametrize("num_devices", [1, 4])
def test_examples_split_over_devices_match_reference_per_example_draws(num_devices):
  # The feature level's route: leaves [T, B, ...] split over devices along B;
  # example n of the batch draws from fold_in(fold_in(key, leaf), n), so any
  # device count gives the same result, and the kept shares are global sums.
  leak = [0.25, 0.0, 0.5]
  rng = np.random.default_rng(8)
  tree = {"a": rng.normal(size=(3, 8, 2, 3)).astype(np.float32),
          "b": rng.normal(size=(3, 8, 5)).astype(np.float32)}
  b = balancers.graddrop(num_tasks=3, leak=leak)
  key = jax.random.PRNGKey(4)

  def local(g):
    return b.update_examples(g, b.init(None), key=key, axis_name="d")
  split = jax.tree_util.tree_map(
      lambda g: g.reshape(3, num_devices, 8 // num_devices, *g.shape[2:]).swapaxes(0, 1), tree)
  updates, state = jax.pmap(local, axis_name="d", devices=jax.devices()[:num_devices])(split)
  updates = jax.tree_util.tree_map(lambda u: np.asarray(u).reshape(8, *u.shape[2:]), updates)

  kept = {}
  for i, (name, g) in enumerate(sorted(tree.items())):
    leaf_key = jax.random.fold_in(key, i)
    u = np.stack([_uniform(leaf_key, n, g.shape[2:]) for n in range(8)])
    kept[name] = _kept(g, u, leak)
    np.testing.assert_allclose(updates[name], kept[name].sum(0), rtol=1e-5, atol=1e-6,
                               err_msg=name)
  shares = sum((kept[n] * tree[n]).reshape(3, -1).sum(1) for n in tree) / sum(
      np.square(tree[n].astype(np.float64)).reshape(3, -1).sum(1) for n in tree)
  for replica in np.asarray(state.weights):
    np.testing.assert_allclose(replica, shares, rtol=1e-5)


def test_rejects_leak_of_wrong_shape():
  with pytest.raises(ValueError, match=r"leak must have shape \(3,\)"):
    balancers.graddrop(num_tasks=3, leak=[0.1, 0.2])
  with pytest.raises(ValueError, match=r"leak values must lie in \[0, 1\], got \[0.5, 1.5, 0.0\]"):
    balancers.graddrop(num_tasks=3, leak=[0.5, 1.5, 0.0])
