"""Aligned-MTL: the balanced gradients B J have orthogonal rows of equal norm."""

import jax
import jax.numpy as jnp
import numpy as np

from mtl_jax.balancers import base
from mtl_jax.balancers.aligned_mtl import aligned_mtl_weights

import balancer_inputs as inputs


def test_aligned_rows_are_orthogonal_with_the_chosen_scale():
  jac = np.stack([inputs.FAMILIES[f] for f in inputs.FULL_RANK])

  @inputs.jit
  def balance_matrices(jacs):
    def per_jac(j):
      gram = base.gramian(j)
      eye = jnp.eye(j.shape[0])
      return {s: jax.vmap(lambda e: aligned_mtl_weights(gram, e, s))(eye)  # rows of B^T = B
              for s in ("min", "median", "rmse")}
    return jax.vmap(per_jac)(jacs)

  out = balance_matrices(jac)
  for k, fam in enumerate(inputs.FULL_RANK):
    g = jac[k].astype(np.float64)
    lam = np.linalg.eigvalsh(g @ g.T)
    for scale, sigma2 in (("min", lam.min()), ("median", np.median(lam)), ("rmse", lam.mean())):
      b = np.asarray(out[scale][k], np.float64)
      aligned = b @ g
      np.testing.assert_allclose(aligned @ aligned.T, sigma2 * np.eye(3), rtol=0,
                                 atol=2e-4 * sigma2, err_msg=f"{fam} {scale}")
      np.testing.assert_allclose(b, b.T, rtol=0, atol=1e-5 * np.abs(b).max())


def test_update_norm_is_that_of_the_mean_of_aligned_rows():
  r = inputs.t3("aligned_mtl")
  for fam in inputs.FULL_RANK:
    g = inputs.FAMILIES[fam].astype(np.float64)
    update = r.updates[inputs.index(fam)]
    lam = np.linalg.eigvalsh(g @ g.T)
    w = r.weights[inputs.index(fam), -1]
    assert np.isfinite(update).all() and np.linalg.norm(update) > 0
    # ||update||^2 = ||J^T B 1/T||^2 = lambda_min / T for orthonormal-times-sigma rows
    np.testing.assert_allclose(np.sum(np.square(w @ g)), lam.min() / 3, rtol=2e-4, err_msg=fam)


def test_even_rank_median_is_the_official_codes_lower_middle():
  """For 4 tasks (rank 4), torch.median of the eigenvalues is the lower of the two middle
  ones (``scale="median"``); ``"median_mean"`` averages them, as np.median does."""
  g = np.random.default_rng(3).normal(size=(4, 9)).astype(np.float32)
  lam = np.sort(np.linalg.eigvalsh(g.astype(np.float64) @ g.T.astype(np.float64)))

  @inputs.jit
  def balance(j):
    gram = base.gramian(j)
    return {s: jax.vmap(lambda e: aligned_mtl_weights(gram, e, s))(jnp.eye(4))
            for s in ("median", "median_mean")}

  out = balance(g)
  for scale, sigma2 in (("median", lam[1]), ("median_mean", 0.5 * (lam[1] + lam[2]))):
    aligned = np.asarray(out[scale], np.float64) @ g.astype(np.float64)
    np.testing.assert_allclose(aligned @ aligned.T, sigma2 * np.eye(4), rtol=0,
                               atol=2e-4 * sigma2, err_msg=scale)
  assert abs(lam[1] - lam[2]) > 0.05 * lam[2]  # The two conventions differ here.
