"""One property suite over every registered balancer, on shared input families."""

import jax
import numpy as np
import pytest

from mtl_jax import balancers
from mtl_jax.balancers import base

import balancer_inputs as inputs

NAMES = sorted(balancers.REGISTRY)
LOSS_LEVEL = {"ew", "uw", "dwa", "rlw", "gls", "famo", "imtl_l"}


@pytest.mark.parametrize("name", NAMES)
def test_finite_and_shaped(name):
  r = inputs.t3(name)
  num_families = len(inputs.FAMILY_NAMES)
  assert r.updates.shape == (num_families, inputs.DIM)
  assert r.weights.shape == (num_families, inputs.STEPS, inputs.NUM_TASKS)
  for i, fam in enumerate(inputs.FAMILY_NAMES):
    for what in (r.updates[i], r.weights[i], r.perm_updates[i], r.tree_updates[i]):
      assert np.all(np.isfinite(what)), (name, fam, what)


@pytest.mark.parametrize("name", NAMES)
def test_zero_gradients_give_zero_update(name):
  assert np.all(inputs.t3(name).updates[inputs.index("all_zero")] == 0.0)


@pytest.mark.parametrize("name", NAMES)
def test_permutation_equivariance(name):
  if name in inputs.RANDOM_ORDER:
    pytest.skip(inputs.RANDOM_ORDER[name])
  r = inputs.t3(name)
  for i, fam in enumerate(inputs.FAMILY_NAMES):
    scale = max(np.abs(r.updates[i]).max(), 1e-3 * np.abs(inputs.FAMILIES[fam]).max(), 1e-30)
    tol = inputs.LOOSE.get((name, fam), (2e-4, ""))[0]
    np.testing.assert_allclose(r.perm_updates[i], r.updates[i], rtol=0, atol=tol * scale,
                               err_msg=f"{name} on {fam}")
  for fam in inputs.FULL_RANK:  # there the weights are unique and follow their task
    i = inputs.index(fam)
    np.testing.assert_allclose(r.perm_weights[i], r.weights[i][:, inputs.PERM], rtol=2e-4,
                               atol=1e-6 * np.abs(r.weights[i]).max(), err_msg=f"{name} on {fam}")


@pytest.mark.parametrize("name", NAMES)
def test_pytree_equals_flat(name):
  if name in inputs.PER_LEAF_RANDOM:
    pytest.skip(inputs.PER_LEAF_RANDOM[name])
  r = inputs.t3(name)
  for i, fam in enumerate(inputs.FAMILY_NAMES):
    scale = max(np.abs(r.updates[i]).max(), 1e-3 * np.abs(inputs.FAMILIES[fam]).max(), 1e-30)
    np.testing.assert_allclose(r.tree_updates[i], r.updates[i], rtol=0, atol=1e-5 * scale,
                               err_msg=f"{name} on {fam}")
  for fam in inputs.FULL_RANK:
    i = inputs.index(fam)
    np.testing.assert_allclose(r.tree_weights[i], r.weights[i], rtol=1e-4,
                               atol=1e-6 * np.abs(r.weights[i]).max(), err_msg=f"{name} on {fam}")


@pytest.mark.parametrize("name", NAMES)
def test_update_is_the_reported_combination(name):
  """Where the method is a combination sum_t w_t g_t, the state reports its w."""
  if name == "graddrop":
    pytest.skip("GradDrop is not a combination; its weights are kept norm shares")
  r = inputs.t3(name)
  for i, fam in enumerate(inputs.FAMILY_NAMES):
    jac = inputs.FAMILIES[fam].astype(np.float64)
    weights = r.weights[i, -1].astype(np.float64)
    bound = (np.abs(weights) @ np.abs(jac)).max()  # the size of the terms that are summed
    np.testing.assert_allclose(r.updates[i], weights @ jac, rtol=0, atol=1e-5 * bound + 1e-30,
                               err_msg=f"{name} {fam}")


@pytest.mark.parametrize("name", NAMES)
def test_wrong_num_tasks_is_a_clear_error(name):
  b = balancers.get(name, num_tasks=3)
  with pytest.raises(ValueError, match="num_tasks=3"):
    b.update(np.ones((2, 4), np.float32), b.init(None), task_losses=np.ones(3, np.float32))


def test_loss_level_methods_declare_it():
  loss_level = {n for n in NAMES if not balancers.get(n, num_tasks=2).needs_task_grads}
  assert loss_level == LOSS_LEVEL


def test_unknown_name_is_a_clear_error():
  with pytest.raises(KeyError, match="unknown balancer 'nope'"):
    balancers.get("nope", num_tasks=2)


def test_loss_level_update_matches_weigh():
  """update combines sum_t w_t g_t with exactly the weights (and state) weigh returns."""
  jac = inputs.FAMILIES["random"]
  losses = np.array([0.5, 1.0, 2.0], np.float32)
  methods = {n: balancers.get(n, num_tasks=3) for n in sorted(LOSS_LEVEL)}

  @inputs.jit
  def both():
    out = {}
    for n, b in methods.items():
      state = b.init(None)
      state = b.weigh(losses, state)[1]  # a second step, from a non-initial state
      w, s1 = b.weigh(losses * 0.5, state)
      u, s2 = b.update(jac, state, task_losses=losses * 0.5)
      out[n] = (w, u, s1, s2)
    return out

  for n, (w, u, s1, s2) in both().items():
    np.testing.assert_allclose(u, np.asarray(w) @ jac, rtol=1e-5, atol=1e-6, err_msg=n)
    jax.tree_util.tree_map(np.testing.assert_array_equal, s1, s2)


def test_base_next_key():
  state_key, key = jax.random.PRNGKey(0), jax.random.PRNGKey(1)
  draw, kept = base.next_key(state_key, key)
  np.testing.assert_array_equal(draw, key)
  np.testing.assert_array_equal(kept, state_key)
  draw, new = base.next_key(state_key, None)
  assert not np.array_equal(new, state_key) and not np.array_equal(draw, new)


GRADIENT_LEVEL = {"graddrop"}  # Neither a loss weighting nor a Gramian weighting.


def test_every_method_declares_its_kind():
  kinds = {n: balancers.get(n, num_tasks=2).kind for n in NAMES}
  assert {n for n, k in kinds.items() if k == "loss"} == LOSS_LEVEL
  assert {n for n, k in kinds.items() if k == "gradient"} == GRADIENT_LEVEL
  assert all(k == "gramian" for n, k in kinds.items() if n not in LOSS_LEVEL | GRADIENT_LEVEL)


def test_gramian_update_matches_weigh_gramian():
  """update combines sum_t w_t g_t with the weights (and state) weigh_gramian gives for
  the Gramian of the gradients, so the Gramian may be formed elsewhere (e.g. summed over
  devices) and the weights applied to each part."""
  jac = inputs.FAMILIES["random_conflicting"]
  losses = np.array([0.5, 1.0, 2.0], np.float32)
  key = jax.random.PRNGKey(3)
  methods = {n: balancers.get(n, num_tasks=3) for n in NAMES
             if n not in LOSS_LEVEL | GRADIENT_LEVEL}

  @inputs.jit
  def both():
    out = {}
    for n, b in methods.items():
      state = b.init(None)
      w, s1 = b.weigh_gramian(base.gramian(jac), state, task_losses=losses, key=key)
      u, s2 = b.update(jac, state, task_losses=losses, key=key)
      out[n] = (w, u, s1, s2)
    return out

  for n, (w, u, s1, s2) in both().items():
    np.testing.assert_allclose(u, np.asarray(w) @ jac, rtol=1e-5, atol=1e-6, err_msg=n)
    jax.tree_util.tree_map(np.testing.assert_array_equal, s1, s2)


# Gradient methods whose authors' code gives task-specific parameters the gradient of
# the weighted loss: method -> the state field holding those loss weights.
WEIGHTED_HEADS = {"imtl": "loss_scales", "imtl_rwl": "loss_weights", "mgda": "weights",
                  "nash_mtl": "loss_weights"}


def test_head_weights_follow_each_methods_convention():
  """Loss weightings give their heads the loss weights; MGDA, Nash-MTL, IMTL and IMTL-RWL
  the loss weights their code back-propagates; the other gradient methods each task's own
  gradient (ones). ``heads`` switches between the two."""
  jac = inputs.FAMILIES["random"]
  losses = np.array([0.5, 1.0, 2.0], np.float32)
  for n in NAMES:
    b = balancers.get(n, num_tasks=3)
    state = b.init(None)
    if b.kind == "loss":
      weights, state = b.weigh(losses, state, key=jax.random.PRNGKey(0))
      np.testing.assert_array_equal(b.head_weights(state), weights, err_msg=n)
      continue
    _, state = b.update(jac, state, task_losses=losses, key=jax.random.PRNGKey(0))
    field = WEIGHTED_HEADS.get(n)
    want = np.ones(3, np.float32) if field is None else getattr(state, field)
    np.testing.assert_array_equal(b.head_weights(state), want, err_msg=n)
    if n == "graddrop":
      continue
    other = "own" if field else "weighted"
    switched = balancers.get(n, num_tasks=3, heads=other)
    want = np.ones(3, np.float32) if other == "own" else state.weights
    np.testing.assert_array_equal(switched.head_weights(state), want, err_msg=f"{n} {other}")
  with pytest.raises(ValueError, match=r"mgda: heads must be one of \('own', 'weighted'\)"):
    balancers.get("mgda", num_tasks=3, heads="both")


def test_imtl_heads_get_the_scales_of_the_step_and_imtl_rwl_its_draw():
  jac = inputs.FAMILIES["random"]
  losses = np.array([0.5, 1.0, 2.0], np.float32)
  b = balancers.get("imtl", num_tasks=3)
  _, state = b.update(jac, b.init(None), task_losses=losses)
  used = np.exp(state.log_scales)  # The scales e^s the next step uses...
  _, state = b.update(jac, state, task_losses=losses)
  np.testing.assert_allclose(b.head_weights(state), used, rtol=1e-6)  # ...are its heads'.
  assert not np.allclose(used, 1.0) and not np.allclose(used, np.exp(state.log_scales))
  b = balancers.get("imtl_rwl", num_tasks=3)
  key = jax.random.PRNGKey(5)
  _, state = b.update(jac, b.init(None), key=key)
  np.testing.assert_allclose(b.head_weights(state), base.sample_dirichlet(key, 1.0, 3))


def test_nash_mtl_heads_get_the_official_codes_loss_weights():
  """The official code solves on G / ||G||_F and back-propagates those a = sqrt(||G||_F) alpha."""
  jac = inputs.FAMILIES["random"].astype(np.float64)
  b = balancers.get("nash_mtl", num_tasks=3)
  _, state = b.update(inputs.FAMILIES["random"], b.init(None))
  gram = jac @ jac.T
  a = np.asarray(b.head_weights(state), np.float64)
  g_n = gram / np.linalg.norm(gram)
  np.testing.assert_allclose(a * (g_n @ a), 1.0, rtol=1e-4)  # G_n a = 1 / a


@pytest.mark.parametrize("name", NAMES)
def test_initial_state_holds_no_array_twice(name):
  """The train state is donated to the step: one buffer in two leaves is refused."""
  leaves = jax.tree_util.tree_leaves(balancers.get(name, num_tasks=3).init({"w": np.zeros(3)}))
  assert len({id(leaf) for leaf in leaves}) == len(leaves)
