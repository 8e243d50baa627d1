"""Multi-scale inference: resizing, average fusion and HMSA's pairwise attention chain.

Tao, Sapra, Catanzaro, "Hierarchical Multi-Scale Attention for Semantic
Segmentation", 2020. Predictions are the heads' raw outputs (logits for
segmentation, depth for depth), fused before the task's ``predict``.
"""

from typing import Mapping, Sequence

import jax
import jax.numpy as jnp

FUSIONS = ("average", "attention")


def scaled_size(size: Sequence[int], scale: float) -> tuple[int, int]:
  """``(round(H * s), round(W * s))``, at least 1.

  >>> scaled_size((96, 128), 0.5), scaled_size((5, 7), 1.5)
  ((48, 64), (8, 10))
  """
  return tuple(max(1, int(round(n * scale))) for n in size)


RESIZES = ("bilinear", "antialiased")


def resize(x: jax.Array, size: Sequence[int], antialias: bool = True) -> jax.Array:
  """Bilinear resize of NHWC ``x`` to ``size = (H, W)``, antialiased when shrinking unless
  ``antialias`` is False (plain bilinear sampling, PyTorch's ``F.interpolate``).

  >>> jax.eval_shape(lambda x: resize(x, (4, 6)), jax.ShapeDtypeStruct((1, 2, 2, 3), float)).shape
  (1, 4, 6, 3)
  """
  size = tuple(size)
  if x.shape[1:3] == size:
    return x
  return jax.image.resize(x, (x.shape[0], *size, x.shape[3]), "bilinear", antialias=antialias)


def fuse_pair(p_low: jax.Array, a_low: jax.Array, p_high: jax.Array,
              antialias: bool = True) -> jax.Array:
  """HMSA training fusion of a lower and a higher scale: ``up(a ⊙ p_low) + (1 - up(a)) ⊙ p_high``.

  ``p_low [B, h, w, C]`` and its attention ``a_low [B, h, w, 1]`` at the lower
  scale; ``p_high [B, H, W, C]``; ``up`` resizes to ``H, W``.

  >>> fused = jax.jit(fuse_pair)(jnp.array([[[[4.0]]]]), jnp.array([[[[0.25]]]]),
  ...                            jnp.array([[[[0.0]] * 2] * 2]))
  >>> float(fused[0, 1, 1, 0])
  1.0
  """
  size = p_high.shape[1:3]
  return (resize(a_low * p_low, size, antialias)
          + (1.0 - resize(a_low, size, antialias)) * p_high)


def attention_chain(preds: Sequence[jax.Array], attns: Sequence[jax.Array],
                    scales: Sequence[float], antialias: bool = True) -> jax.Array:
  """HMSA inference: the scales' predictions chained pairwise, largest scale first.

  ``preds[i] [B, H_i, W_i, C]`` and ``attns[i] [B, H_i, W_i, 1]`` at scale
  ``scales[i]`` (any order, distinct). Starting from ``p`` = the largest
  scale's prediction, each next smaller scale s fuses as

  * ``s >= 1``: ``p = a_s ⊙ p_s + (1 - a_s) ⊙ down(p)`` (at scale s's size);
  * ``s < 1``: ``p = up(a_s ⊙ p_s) + up(1 - a_s) ⊙ p`` (at p's size).

  The largest scale's attention is not used. Returns ``p`` at the size of the
  smallest scale >= 1 (the largest scale's if all are < 1); the pair (0.5, 1)
  is ``fuse_pair``. With a single scale it is that scale's prediction.

  >>> chain = jax.jit(lambda p, a: attention_chain(p, a, (1.0, 0.5)))
  >>> p = chain([jnp.array([[[[2.0]] * 2] * 2]), jnp.array([[[[6.0]]]])],
  ...           [jnp.array([[[[0.0]] * 2] * 2]), jnp.array([[[[0.5]]]])])
  >>> p.shape, float(p[0, 0, 0, 0])  # 0.5 * 6 + 0.5 * 2
  ((1, 2, 2, 1), 4.0)
  """
  order = sorted(range(len(scales)), key=lambda i: -scales[i])
  p = preds[order[0]]
  for i in order[1:]:
    p_s, a_s = preds[i], attns[i]
    if scales[i] >= 1.0:
      p = a_s * p_s + (1.0 - a_s) * resize(p, p_s.shape[1:3], antialias)
    else:
      size = p.shape[1:3]
      p = resize(a_s * p_s, size, antialias) + resize(1.0 - a_s, size, antialias) * p
  return p


def average(preds: Sequence[jax.Array], size: Sequence[int], antialias: bool = True) -> jax.Array:
  """Average fusion: the mean of the predictions resized to ``size``.

  >>> mean = jax.jit(lambda a, b: average([a, b], (2, 2)))
  >>> float(mean(jnp.array([[[[1.0]]]]), jnp.array([[[[3.0]] * 2] * 2]))[0, 0, 0, 0])
  2.0
  """
  return sum(resize(p, size, antialias) for p in preds) / len(preds)


def predict(model, variables, images: jax.Array, scales: Sequence[float],
            fusion: str) -> Mapping[str, jax.Array]:
  """Fused predictions ``{task: [B, H, W, C]}`` of ``images [B, H, W, 3]`` over ``scales``.

  ``"average"``: any network, every task, ``average`` of ``model.apply`` on
  the resized images. ``"attention"``: an ``HMSA``-wrapped network, the tasks
  it has attention heads for (``HMSA.attention_fusion``). Images and
  predictions are resized as the network's ``resize`` says (the HMSA
  wrapper's option), else antialiased.

  >>> from mtl_jax.models.networks.hps import HPS
  >>> model, x = HPS({"depth": 1}, widths=(4, 8)), jnp.zeros((1, 8, 8, 3))
  >>> variables = jax.eval_shape(lambda: model.init(jax.random.key(0), x, train=False))
  >>> jax.eval_shape(lambda v: predict(model, v, x, (0.5, 1.0, 2.0), "average"), variables)
  {'depth': ShapeDtypeStruct(shape=(1, 8, 8, 1), dtype=float32)}
  """
  if fusion == "attention":
    return model.apply(variables, images, tuple(scales), method="attention_fusion")
  if fusion != "average":
    raise ValueError(f"unknown fusion {fusion!r}; known: {', '.join(FUSIONS)}")
  size = images.shape[1:3]
  antialias = getattr(model, "resize", "antialiased") == "antialiased"
  outs = [model.apply(variables, resize(images, scaled_size(size, s), antialias), train=False)
          for s in scales]
  return {task: average([o[task] for o in outs], size, antialias) for task in outs[0]}
