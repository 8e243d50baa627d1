"""Every balancer chains with an optax optimizer under jit, on an array and on a dict."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from mtl_jax import balancers

import balancer_inputs as inputs


def test_chain_with_sgd_end_to_end():
  names = sorted(balancers.REGISTRY)
  txs = {n: optax.chain(balancers.get(n, num_tasks=3), optax.sgd(0.1)) for n in names}
  jac = inputs.FAMILIES["random"]
  array_params = jnp.zeros(inputs.DIM)
  tree_params = {"a": jnp.zeros((2, 2)), "b": jnp.zeros(1)}
  losses = jnp.array([0.5, 1.0, 2.0])

  @inputs.jit
  def steps():
    out = {}
    for n, tx in txs.items():
      for kind, params, grads in (("array", array_params, jac),
                                  ("dict", tree_params, inputs.to_tree(jac))):
        state = tx.init(params)
        for _ in range(2):
          updates, state = tx.update(grads, state, params, task_losses=losses)
          params = optax.apply_updates(params, updates)
        out[n, kind] = params
    return out

  out = steps()
  for n in names:
    flat = np.asarray(out[n, "array"])
    tree = inputs.from_tree(jax.tree_util.tree_map(np.asarray, out[n, "dict"]))
    assert np.all(np.isfinite(flat)) and np.linalg.norm(flat) > 0, n
    if n not in inputs.PER_LEAF_RANDOM:
      np.testing.assert_allclose(tree, flat, rtol=1e-4, atol=1e-6, err_msg=n)
