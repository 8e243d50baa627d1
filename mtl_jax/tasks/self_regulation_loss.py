"""Self-Regulation losses for segmentation (Zhang et al., ICCV 2021).

Zhang, Zhang, Tang, Hua, Sun, "Self-Regulation for Semantic Segmentation",
ICCV 2021. The network's training output (``mtl_jax.models.SelfRegulation``)
holds, besides the main logits, a segmentation exit and an image-level
classifier on every block, and the blocks' features. The loss is

  ``L = λ1 L_cls + λ2 L_seg + g(step) λ3 (L_SR-F + L_SR-L)``

* MEA (multi-exit architecture) loss: ``L_seg`` the pixel loss (cross-entropy,
  or the task's focal loss) summed over every exit and the main output, each a
  mean over valid pixels; ``L_cls`` the image-level multi-label binary
  cross-entropy (a class is present if any valid pixel of the image carries it)
  summed over every exit and the main output, each a mean over the images that
  have a valid pixel and the K classes;
* ``L_SR-F``: the shallowest block's features teach the deeper blocks'
  features: ``Σ_i 1/M Σ_j KL(softmax(t_j / τ) || softmax(s_j / τ))`` over the M
  positions j of the shallowest block, ``t_j`` its feature vector there,
  ``s_j`` block i's (projected to the same channels, resized to the same size);
* ``L_SR-L``: the deepest exit (the network's own segmentation output) teaches
  the shallower exits: ``Σ_k 1/M Σ_j KL(softmax(z_j / τ) || softmax(e_kj / τ))``
  over all pixels, ``z`` the main logits, ``e_k`` exit k's.

Teachers are constants (``stop_gradient``), so the KL divergence has the
gradient of the paper's cross-entropy ``-Σ t log s`` (they differ by the
teacher's entropy) and is 0 when student and teacher agree. ``g(step)`` is 0
during a warm-up of MEA only, then 1. The weights λ1 = 0.2, λ2 = 0.8, λ3 = 1
are the paper's, attached to the terms as in the authors' public training
script (λ1 classification, λ2 segmentation, λ3 both self-regulation terms).

``form="script"`` computes the two self-regulation terms as the authors'
public training script (dongzhang89/SR-SS, ``trainval.py``) does instead:

* SR-F: the cross-entropy of every deeper exit and of the main output against
  the shallowest exit's pixel argmax (hard pseudo-labels on every pixel), each
  a mean over the pixels;
* SR-L: the image-level binary cross-entropy of every exit's class
  probabilities against the main output's (soft targets), each a mean over
  the images and the K classes.

The repository calls itself a demo implementation, so which of the two forms
produced the paper's numbers cannot be told; the paper's is the default.
"""

from typing import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import optax

PixelLoss = Callable[[jax.Array, jax.Array, jax.Array], jax.Array]


def image_labels(labels: jax.Array, valid: jax.Array, num_classes: int):
  """Multi-label targets ``float32 [B, K]`` and ``has_valid bool [B]`` of ``[B, H, W]`` labels.

  >>> present, has = jax.jit(image_labels, static_argnums=2)(
  ...     jnp.array([[[2, 2]], [[0, 0]]]), jnp.array([[[True, True]], [[False, False]]]), 3)
  >>> present.tolist(), has.tolist()
  ([[0.0, 0.0, 1.0], [0.0, 0.0, 0.0]], [True, False])
  """
  onehot = jax.nn.one_hot(jnp.where(valid, labels, 0), num_classes, dtype=jnp.float32)
  present = jnp.max(onehot * valid[..., None], axis=(1, 2))
  return present, jnp.any(valid, axis=(1, 2))


def softened_kl(teacher: jax.Array, student: jax.Array, temperature: float) -> jax.Array:
  """``KL(softmax(t / τ) || softmax(s / τ))`` over the last axis; the teacher is a constant.

  >>> kl = jax.jit(lambda t, p: softened_kl(t, jnp.log(p), 1.0))
  >>> round(float(kl(jnp.array([0.0, 0.0]), jnp.array([0.25, 0.75]))), 5)
  0.14384
  """
  log_t = jax.nn.log_softmax(jax.lax.stop_gradient(teacher).astype(jnp.float32) / temperature)
  log_s = jax.nn.log_softmax(student.astype(jnp.float32) / temperature)
  return jnp.sum(jnp.exp(log_t) * (log_t - log_s), axis=-1)


FORMS = ("paper", "script")


def self_regulation_terms(out: Mapping[str, jax.Array], labels: jax.Array, valid: jax.Array,
                          pixel_loss: PixelLoss, lambdas: Sequence[float] = (0.2, 0.8, 1.0),
                          temperature: float = 1.0, gate=1.0, form: str = "paper"):
  """The four terms of ``L`` as ``(sums float32 [4], counts int32 [4])``.

  The loss is ``Σ_k sums_k / counts_k`` (for data parallelism: summed over
  devices, then divided): ``[λ2 L_seg, λ1 L_cls, g λ3 L_SR-F, g λ3 L_SR-L]``.

  Args:
    out: the SR training output: ``logits`` ``[B, H, W, K]`` (main),
      ``exit_logits`` (a tuple of ``[B, H, W, K]``, shallowest first),
      ``class_logits`` ``[E + 1, B, K]`` (the exits', then the main output's),
      ``teacher`` ``[B, h, w, c]`` (shallowest block's features) and
      ``students`` (a tuple of ``[B, h, w, c]``, the deeper blocks' features).
    labels: int ``[B, H, W]``; valid: bool ``[B, H, W]``.
    pixel_loss: ``(logits, labels, valid) -> [B, H, W]`` per-pixel loss.
    lambdas: ``(λ1, λ2, λ3)``.
    temperature: ``τ`` of both self-regulation terms (``form="paper"``).
    gate: 0 or 1 (float scalar, may be traced): the warm-up switch of SR-F and SR-L.
    form: ``"paper"`` or ``"script"`` (see the module doc).

  >>> z, f = jnp.array([[[[0.0, 0.0]] * 2]]), jnp.array([[[[1.0] * 3] * 2]])
  >>> out = {"logits": z, "exit_logits": (z,), "class_logits": jnp.array([[[0.0, 0.0]]] * 2),
  ...        "teacher": f, "students": (f,)}  # Students equal to teachers: KL terms 0.
  >>> ce = lambda logits, labels, valid: jnp.where(valid, jnp.log(2.0), 0.0)
  >>> sums, counts = jax.jit(lambda o, y, v: self_regulation_terms(o, y, v, ce))(
  ...     out, jnp.array([[[0, -1]]]), jnp.array([[[True, False]]]))
  >>> [round(float(x), 4) for x in sums], counts.tolist()  # [0.8 * 2 log 2, 0.2 * 4 log 2, 0, 0]
  ([1.109, 0.5545, 0.0, 0.0], [1, 2, 2, 2])
  """
  lam1, lam2, lam3 = (float(x) for x in lambdas)
  logits, exits = out["logits"], tuple(out["exit_logits"])
  num_classes = logits.shape[-1]
  seg = sum(pixel_loss(z, labels, valid).sum() for z in (*exits, logits))
  present, has_valid = image_labels(labels, valid, num_classes)
  bce = optax.sigmoid_binary_cross_entropy(out["class_logits"].astype(jnp.float32), present)
  cls = jnp.where(has_valid[None, :, None], bce, 0.0).sum()
  num_pixels = jnp.int32(logits.shape[0] * logits.shape[1] * logits.shape[2])
  if form == "paper":
    teacher = out["teacher"]
    sr_f = sum((softened_kl(teacher, s, temperature).sum() for s in out["students"]),
               jnp.zeros((), jnp.float32))
    sr_l = sum((softened_kl(logits, e, temperature).sum() for e in exits),
               jnp.zeros((), jnp.float32))
    sr_counts = [jnp.int32(teacher.shape[0] * teacher.shape[1] * teacher.shape[2]), num_pixels]
  elif form == "script":
    pseudo = jnp.argmax(jax.lax.stop_gradient(exits[0]), axis=-1)
    sr_f = sum((optax.softmax_cross_entropy_with_integer_labels(
        z.astype(jnp.float32), pseudo).sum() for z in (*exits[1:], logits)),
        jnp.zeros((), jnp.float32))
    class_logits = out["class_logits"].astype(jnp.float32)
    soft = jax.nn.sigmoid(jax.lax.stop_gradient(class_logits[-1]))
    sr_l = optax.sigmoid_binary_cross_entropy(class_logits[:-1], soft[None]).sum()
    sr_counts = [num_pixels, jnp.int32(logits.shape[0] * num_classes)]
  else:
    raise ValueError(f"sr_form: unknown value {form!r}; known: {', '.join(FORMS)}")
  gate = jnp.asarray(gate, jnp.float32)
  sums = jnp.stack([lam2 * seg, lam1 * cls, gate * lam3 * sr_f, gate * lam3 * sr_l])
  counts = jnp.stack([valid.sum(dtype=jnp.int32), has_valid.sum(dtype=jnp.int32) * num_classes,
                      *sr_counts])
  return sums.astype(jnp.float32), counts
