"""Per-pixel segmentation losses: cross-entropy and SemBoost's semantic focal loss."""

from typing import Optional, Sequence

import jax
import jax.numpy as jnp
import optax

PIXEL_LOSSES = ("ce", "focal")


def focal_loss(logits: jax.Array, labels: jax.Array, valid: jax.Array, gamma: float = 2.0,
               alpha: Optional[Sequence[float]] = None) -> jax.Array:
  """Semantic focal loss per pixel, ``float32 [B, H, W]`` (0 at invalid pixels).

  ``L_semF = -1/N Σ_i Σ_k l*_ik α_k (1 - l_ik)^γ log l_ik`` (Jiao et al., ECCV
  2018, Sec. 3.3, after Lin et al.'s focal loss), with ``l_i = softmax(logits_i)``
  and ``l*_i`` the one-hot ground truth: per pixel ``-α_y (1 - p_y)^γ log p_y``
  for its class ``y``. ``γ = 0`` and ``α = 1`` give the cross-entropy.

  ``1 - p_y`` is computed as ``-expm1(log p_y)`` (exact for ``p_y`` near 1) and
  floored at 1e-30 so that ``γ < 1`` has a finite gradient where ``p_y = 1``.

  Args:
    logits: ``[B, H, W, K]``.
    labels: int ``[B, H, W]`` (any value where ``valid`` is False).
    valid: bool ``[B, H, W]``.
    gamma: focusing exponent ``γ >= 0``.
    alpha: per-class weights ``α_k`` (K values), or None for all ones.

  >>> probs = jnp.array([[[[0.5, 0.5], [0.9, 0.1]]]])
  >>> loss = jax.jit(lambda p, y, v: focal_loss(jnp.log(p), y, v))(
  ...     probs, jnp.array([[[0, 0]]]), jnp.array([[[True, True]]]))
  >>> [round(float(v), 5) for v in loss[0, 0]]  # 0.25 * log 2, 0.01 * -log 0.9
  [0.17329, 0.00105]
  """
  log_p = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
  safe = jnp.where(valid, labels, 0).astype(jnp.int32)
  log_py = jnp.take_along_axis(log_p, safe[..., None], axis=-1)[..., 0]
  loss = -jnp.power(jnp.maximum(-jnp.expm1(log_py), 1e-30), gamma) * log_py
  if alpha is not None:
    loss = loss * jnp.asarray(alpha, jnp.float32)[safe]
  return jnp.where(valid, loss, 0.0)


def cross_entropy(logits: jax.Array, labels: jax.Array, valid: jax.Array) -> jax.Array:
  """Cross-entropy ``-log softmax(logits)[label]`` per pixel, ``float32 [B, H, W]``.

  0 at invalid pixels.

  >>> loss = jax.jit(cross_entropy)(jnp.array([[[[0.0] * 4] * 2]]), jnp.array([[[3, -1]]]),
  ...                               jnp.array([[[True, False]]]))
  >>> [round(float(v), 5) for v in loss[0, 0]]  # log 4
  [1.38629, 0.0]
  """
  safe = jnp.where(valid, labels, 0).astype(jnp.int32)
  ce = optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), safe)
  return jnp.where(valid, ce, 0.0)
