"""Aligned-MTL: aligned principal components of the task gradients (Senushkin et al. 2023)."""

from typing import NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp

from mtl_jax.balancers import base

SCALES = ("min", "median", "median_mean", "rmse")


class AlignedMTLState(NamedTuple):
  weights: jax.Array  # [T] w with update = sum_t w_t g_t


def aligned_mtl_weights(gram: jax.Array, pref: jax.Array, scale: str = "min") -> jax.Array:
  """``B pref`` with ``B = sigma V_r Lambda_r^{-1/2} V_r^T`` from ``G = V Lambda V^T``.

  Only the ``r`` eigenvalues above ``max(Lambda) T eps_float32`` are kept (the
  rank); ``sigma^2`` is their minimum (``"min"``), median (``"median"``: for
  an even rank the lower of the two middle ones, as the official code's
  ``torch.median``; ``"median_mean"``: their mean) or mean (``"rmse"``). With
  no eigenvalue kept (zero gradients), ``B = I``.
  """
  n = gram.shape[0]
  lam, vecs = jnp.linalg.eigh(gram)
  tol = jnp.max(lam) * n * jnp.finfo(jnp.float32).eps
  keep = lam > tol
  rank = jnp.sum(keep)
  kept = jnp.sort(jnp.where(keep, lam, jnp.inf))
  if scale == "min":
    sigma2 = kept[0]
  elif scale == "median":
    sigma2 = kept[jnp.maximum(rank - 1, 0) // 2]
  elif scale == "median_mean":
    lo, hi = kept[jnp.maximum(rank - 1, 0) // 2], kept[rank // 2]
    sigma2 = 0.5 * (lo + jnp.where(rank % 2 == 1, lo, hi))
  else:
    sigma2 = jnp.sum(jnp.where(keep, lam, 0.0)) / jnp.maximum(rank, 1)
  inv_sqrt = jnp.where(keep, 1.0 / jnp.sqrt(jnp.where(keep, lam, 1.0)), 0.0)
  balance = jnp.sqrt(jnp.where(rank > 0, sigma2, 1.0)) * jnp.matmul(
      vecs * inv_sqrt, vecs.T, precision=jax.lax.Precision.HIGHEST)
  balance = jnp.where(rank > 0, balance, jnp.eye(n, dtype=gram.dtype))
  return jnp.matmul(balance, pref.astype(gram.dtype), precision=jax.lax.Precision.HIGHEST)


def aligned_mtl(num_tasks: int, pref: Optional[Sequence[float]] = None,
                scale: str = "min", heads: str = "own") -> base.Balancer:
  """Aligned-MTL: make the task gradients' system well conditioned, then combine.

  Senushkin et al., "Independent Component Alignment for Multi-Task Learning",
  CVPR 2023, Algorithm 1. With ``G = J J^T = V Lambda V^T`` (rank r), the
  aligned gradients ``J_hat = sigma V Lambda^{-1/2} V^T J`` have orthogonal
  rows of equal norm ``sigma`` (condition number 1); the update is
  ``J_hat^T pref = J^T B pref``, ``B = sigma V Lambda^{-1/2} V^T``.
  Defaults follow torchjd's ``AlignedMTL``: ``pref = 1/T`` (the mean) and
  ``sigma = sqrt(lambda_min)`` (``scale="min"``). The official code and LibMTL
  use ``pref = 1`` (the sum: pass ``pref=[1.] * T``); ``scale="median"`` and
  ``"rmse"`` take ``sigma^2`` as the median or the mean of the kept
  eigenvalues (the official code's other scale modes; ``"median_mean"`` averages
  the two middle eigenvalues of an even rank, where the official code takes the
  lower).

  Args:
    num_tasks: T.
    pref: the preference vector ``[T]`` (default ``1/T`` each).
    scale: ``"min"``, ``"median"``, ``"median_mean"`` or ``"rmse"``.
    heads: ``"own"`` (the official code's default) or ``"weighted"``
      (``w_t grad L_t``, its ``scale_decoder_grad``), what task-specific
      parameters receive.

  Returns:
    A ``Balancer``.

  Example:
    >>> import jax.numpy as jnp
    >>> from mtl_jax import balancers
    >>> b = balancers.aligned_mtl(num_tasks=2)
    >>> jacobian = jnp.array([[-4., 1., 1.], [6., 1., 1.]])
    >>> updates, state = b.update(jacobian, b.init(None))
    >>> [round(v, 4) for v in updates.tolist()]
    [0.2133, 0.9673, 0.9673]
  """
  if scale not in SCALES:
    raise ValueError(f"aligned_mtl: scale must be one of {SCALES}, got {scale!r}.")
  if pref is None:
    pref_arr = jnp.full((num_tasks,), 1.0 / num_tasks, jnp.float32)
  else:
    pref_arr = jnp.asarray(pref, jnp.float32)
    if pref_arr.shape != (num_tasks,):
      raise ValueError(f"aligned_mtl: pref must have shape ({num_tasks},), got {pref_arr.shape}.")

  def init(params):
    del params
    return AlignedMTLState(weights=pref_arr)

  def weigh_gramian(gram, state, *, task_losses=None, key=None):
    del state, task_losses, key
    weights = aligned_mtl_weights(gram, pref_arr, scale)
    return weights, AlignedMTLState(weights=weights)

  return base.gramian_weighting(
      num_tasks, "aligned_mtl", init, weigh_gramian,
      head_weights=base.head_convention("aligned_mtl", heads, lambda state: state.weights))
