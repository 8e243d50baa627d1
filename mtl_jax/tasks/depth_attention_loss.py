"""SemBoost's depth losses: depth-aware loss and joint gradient loss (Jiao et al., ECCV 2018).

Jiao, Cao, Song, Lau, "Look Deeper into Depth: Monocular Depth Estimation with
Semantic Booster and Attention-Driven Loss", ECCV 2018, Sec. 3.1 and 3.3. Pure
functions on ``[B, H, W]`` arrays; every one returns ``(sum, count)`` so that
the data-parallel step divides global sums by global counts.
"""

import jax
import jax.numpy as jnp

DISTANCES = ("smooth_l1", "l1", "l2")


def distance(pred: jax.Array, gt: jax.Array, kind: str = "smooth_l1",
             beta: float = 1.0) -> jax.Array:
  """Per-pixel ``ℓ(d, d*)``, elementwise.

  ``smooth_l1``: ``0.5 x^2 / beta`` where ``|x| < beta``, else ``|x| - beta / 2``
  (``x = d - d*``); ``l1``: ``|x|``; ``l2``: ``x^2``.

  >>> jax.jit(distance)(jnp.array([0.5, 3.0]), jnp.array([0.0, 0.0])).tolist()
  [0.125, 2.5]
  """
  x = pred - gt
  if kind == "smooth_l1":
    ax = jnp.abs(x)
    return jnp.where(ax < beta, 0.5 * x * x / beta, ax - 0.5 * beta)
  if kind == "l1":
    return jnp.abs(x)
  if kind == "l2":
    return x * x
  raise ValueError(f"unknown distance {kind!r}; known: {', '.join(DISTANCES)}")


def depth_aware_weights(pred: jax.Array, gt: jax.Array, valid: jax.Array) -> jax.Array:
  """``α_D + λ_D`` per pixel, ``[B, H, W]`` (0 at invalid pixels; no gradient).

  * ``α_D = d* / max(d*)``: the ground truth normalised by its largest valid
    value in the same image, in ``(0, 1]`` (far pixels weigh more);
  * ``λ_D = 1 - min(g(d), g(d*)) / max(g(d), g(d*))`` with
    ``g(x) = log(1 + max(x, 0))``, in ``[0, 1]``: 0 where ``d = d*``, towards 1
    as they part.

  The paper's ``g = log`` is 0 at a depth of 1 (division by ~0 near it) and
  negative below (the ratio leaves [0, 1] and λ_D can turn negative), so
  ``log(1 + x)`` is used: positive for every positive depth, so that
  ``max(g(d), g(d*)) >= g(d*) > 0`` on valid pixels and the ratio lies in
  [0, 1]; ``≈ log x`` for large depths and ``≈ x`` (λ_D ≈ the relative error)
  for small ones. A prediction ``d <= 0`` gives ``λ_D = 1``. Both weights are
  constants of the loss (``stop_gradient``): the gradient is that of ``ℓ``
  scaled by them, as the paper describes ("the original ℓ" still propagates
  for near regions where ``α_D -> 0``).

  >>> w = jax.jit(depth_aware_weights)(jnp.array([[[2.0, 0.0]]]), jnp.array([[[2.0, 4.0]]]),
  ...                                  jnp.array([[[True, True]]]))
  >>> [round(float(v), 4) for v in w[0, 0]]  # [0.5 + 0, 1 + 1]
  [0.5, 2.0]
  """
  gt = jnp.where(valid, gt, 1.0)
  image_max = jnp.max(jnp.where(valid, gt, 0.0), axis=(1, 2), keepdims=True)
  alpha = gt / jnp.where(image_max > 0, image_max, 1.0)
  g_pred = jnp.log1p(jnp.maximum(pred, 0.0))
  g_gt = jnp.log1p(gt)
  hi = jnp.maximum(g_pred, g_gt)
  lam = 1.0 - jnp.minimum(g_pred, g_gt) / jnp.where(hi > 0, hi, 1.0)
  return jax.lax.stop_gradient(jnp.where(valid, alpha + lam, 0.0))


def depth_aware_terms(pred, gt, valid, kind: str = "smooth_l1", beta: float = 1.0):
  """``L_DA = 1/N Σ_i (α_D + λ_D) ℓ(d_i, d_i*)`` over the N valid pixels, as (sum, count).

  Args:
    pred: predicted depth ``float [B, H, W]``.
    gt: ground truth ``[B, H, W]`` (any value where ``valid`` is False).
    valid: bool ``[B, H, W]``.
    kind, beta: the distance ``ℓ`` (see ``distance``).

  >>> l1_terms = jax.jit(lambda d, t, v: depth_aware_terms(d, t, v, "l1"))
  >>> total, count = l1_terms(jnp.array([[[2.0, 0.0]]]), jnp.array([[[2.0, 4.0]]]),
  ...                         jnp.array([[[True, True]]]))
  >>> float(total), int(count)  # 0.5 * 0 + 2 * 4
  (8.0, 2)
  """
  weights = depth_aware_weights(pred, gt, valid)
  err = jnp.where(valid, distance(pred, jnp.where(valid, gt, 0.0), kind, beta), 0.0)
  return (weights * err).sum(), valid.sum(dtype=jnp.int32)


def sobel(x: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Horizontal and vertical Sobel responses of ``[B, H, W]``, each ``[B, H-2, W-2]``.

  ``∇h`` correlates with ``[[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]``, ``∇v`` with
  its transpose, at every pixel whose 3x3 window lies inside the image.

  >>> gh, gv = jax.jit(sobel)(jnp.array([[[0.0, 1.0, 2.0, 3.0]] * 3]))  # +1 per column
  >>> gh.tolist(), gv.tolist()
  ([[[8.0, 8.0]]], [[[0.0, 0.0]]])
  """
  def at(a, b):  # The window's pixel (row a, column b) for every window position.
    return x[:, a:a + x.shape[1] - 2, b:b + x.shape[2] - 2]
  gh = (at(0, 2) - at(0, 0)) + 2.0 * (at(1, 2) - at(1, 0)) + (at(2, 2) - at(2, 0))
  gv = (at(2, 0) - at(0, 0)) + 2.0 * (at(2, 1) - at(0, 1)) + (at(2, 2) - at(0, 2))
  return gh, gv


def window_defined(defined: jax.Array) -> jax.Array:
  """bool ``[B, H-2, W-2]``: True where all 9 pixels of the 3x3 window are defined."""
  h, w = defined.shape[1] - 2, defined.shape[2] - 2
  out = jnp.ones((defined.shape[0], h, w), bool)
  for a in range(3):
    for b in range(3):
      out = out & defined[:, a:a + h, b:b + w]
  return out


def gradient_terms(pred: jax.Array, target: jax.Array, defined: jax.Array):
  """``L_g(d, t) = 1/N Σ_i |∇h d_i - ∇h t_i| + |∇v d_i - ∇v t_i|`` as (sum, count).

  Over the N pixels whose 3x3 window lies in the image and where ``t`` is
  defined at all 9 pixels (the Sobel response of ``t`` is meaningless elsewhere).

  >>> d = jnp.array([[[0.0, 1.0, 2.0, 3.0]] * 3])
  >>> terms = jax.jit(gradient_terms)(d, 2 * d, jnp.array([[[True] * 4] * 3]))
  >>> [float(v) for v in terms]  # |8 - 16| at each of the 2 windows
  [16.0, 2.0]
  """
  target = jnp.where(defined, target, 0.0)
  ok = window_defined(defined)
  ph, pv = sobel(pred)
  th, tv = sobel(target)
  err = jnp.abs(ph - th) + jnp.abs(pv - tv)
  return jnp.where(ok, err, 0.0).sum(), ok.sum(dtype=jnp.int32)


def semantic_depth_map(labels: jax.Array, label_valid: jax.Array, gt: jax.Array,
                       depth_valid: jax.Array, num_classes: int):
  """``s``: the semantic ground truth drawn as a piecewise-constant depth map.

  ``s_i`` is the mean ground-truth depth, in pixel i's image, of the valid-depth
  pixels that carry pixel i's class. So ``∇s`` is zero inside every semantic
  region and steps at semantic boundaries by the depth difference between the
  regions, in depth units like ``∇d`` (class ids are arbitrary numbers: the
  Sobel response of the label map itself would depend on how classes are
  numbered). ``L_g(d, s)`` then asks depth edges to follow semantic boundaries
  and depth to be smooth within a region.

  Returns:
    ``(s float [B, H, W], defined bool [B, H, W])``: defined where the label is
    valid and its class has at least one valid-depth pixel in the image.

  >>> s, ok = jax.jit(semantic_depth_map, static_argnums=4)(
  ...     jnp.array([[[0, 0, 1, -1]]]), jnp.array([[[True, True, True, False]]]),
  ...     jnp.array([[[1.0, 3.0, 5.0, 7.0]]]), jnp.array([[[True] * 4]]), 2)
  >>> s.tolist(), ok.tolist()
  ([[[2.0, 2.0, 5.0, 0.0]]], [[[True, True, True, False]]])
  """
  onehot = jax.nn.one_hot(jnp.where(label_valid, labels, 0), num_classes, dtype=jnp.float32)
  onehot = onehot * label_valid[..., None]
  weight = onehot * depth_valid[..., None]
  sums = jnp.einsum("bhwk,bhw->bk", weight, jnp.where(depth_valid, gt, 0.0))
  counts = weight.sum(axis=(1, 2))
  means = sums / jnp.maximum(counts, 1.0)
  s = jnp.einsum("bhwk,bk->bhw", onehot, means)
  defined = label_valid & (jnp.einsum("bhwk,bk->bhw", onehot, counts) > 0)
  return jnp.where(defined, s, 0.0), defined
