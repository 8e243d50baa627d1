"""The lateral sharing unit: the identity at zero weights, the paper's formula otherwise."""

import jax
import jax.numpy as jnp
import numpy as np

from mtl_jax.models import LSU


def features(seed):
  rng = np.random.default_rng(seed)
  return (jnp.asarray(rng.normal(size=(2, 3, 5, 4)), jnp.float32),
          jnp.asarray(rng.normal(size=(2, 3, 5, 4)), jnp.float32))


def test_zero_weights_are_the_identity_path_exactly():
  d, s = features(0)
  variables = LSU().init(jax.random.PRNGKey(0), d, s)
  assert {k: float(v) for k, v in variables["params"].items()} == {
      "phi_d": 0.0, "phi_s": 0.0, "gamma_d": 0.0, "gamma_s": 0.0}
  d2, s2 = LSU().apply(variables, d, s)
  np.testing.assert_array_equal(d2, d)
  np.testing.assert_array_equal(s2, s)


def test_given_weights_match_the_formula():
  d, s = features(1)
  phi_d, phi_s, gamma_d, gamma_s = 0.3, -1.2, 0.7, 2.5
  params = {"phi_d": phi_d, "phi_s": phi_s, "gamma_d": gamma_d, "gamma_s": gamma_s}
  d2, s2 = LSU().apply({"params": params}, d, s)
  d, s = np.asarray(d, np.float64), np.asarray(s, np.float64)
  np.testing.assert_allclose(d2, d + (phi_d * d + phi_s * s), rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(s2, s + (gamma_d * d + gamma_s * s), rtol=1e-6, atol=1e-6)
