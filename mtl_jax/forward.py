"""The training forward pass and its task losses, as every route of the step computes them.

Losses are each device's share of the global-batch mean: a task's
``loss_terms`` gives sums and counts over this device's pixels (or images, or
windows), the counts are summed over devices, and the sums divided by them;
summing the result over devices gives the mean over the global batch,
whatever the number of valid pixels on each device.
"""

import jax
import jax.numpy as jnp
import numpy as np


def images_of(batch) -> jax.Array:
  """The batch's uint8 images as float32 in [0, 1] (the networks' input)."""
  return batch["image"].astype(jnp.float32) / 255.0


def cast_floating(tree, dtype):
  """Every floating leaf of ``tree`` as ``dtype`` (integer leaves, e.g. labels, as they are)."""
  return jax.tree_util.tree_map(
      lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x, tree)


def apply_train(model, params, batch_stats, inputs, method=None, dtype=None):
  """``model.apply`` in training mode; returns (output, new batch stats).

  ``dtype``: the compute dtype (``config.model.dtype``; None: the
  parameters', float32). The parameters and inputs are cast to it for this
  pass, so every layer computes in it, while the parameters themselves, their
  gradients (the cast's pull-back returns float32) and the batch statistics
  (flax reduces them in float32) stay float32.
  """
  if dtype is not None:
    params, inputs = cast_floating(params, dtype), cast_floating(inputs, dtype)
  out, mutated = model.apply({"params": params, "batch_stats": batch_stats}, inputs,
                             train=True, mutable=["batch_stats"], method=method)
  return out, mutated.get("batch_stats", {})


def global_mean_losses(tasks, preds, batch, axis_name) -> jax.Array:
  """This device's share of each task's global-batch mean loss, ``[T]``.

  A task whose loss has several terms (``(sums [K], counts [K])``) gets
  ``sum_k sums_k / counts_k``, each term's count taken over the global batch.
  """
  preds = cast_floating(preds, jnp.float32)  # Losses in float32 whatever the compute dtype.
  terms = [task.loss_terms(preds[task.name], batch) for task in tasks]
  sums = [jnp.atleast_1d(s).astype(jnp.float32) for s, _ in terms]
  counts = jax.lax.psum(
      jnp.concatenate([jnp.atleast_1d(c).astype(jnp.float32) for _, c in terms]), axis_name)
  ratios = jnp.concatenate(sums) / jnp.maximum(counts, 1.0)
  bounds = np.cumsum([0] + [s.shape[0] for s in sums])
  return jnp.stack([ratios[a:b].sum() for a, b in zip(bounds[:-1], bounds[1:])])


def losses(model, tasks, params, batch_stats, images, batch, axis_name, dtype=None):
  """The forward pass in training mode: (this device's share of the losses [T], batch stats)."""
  preds, stats = apply_train(model, params, batch_stats, images, dtype=dtype)
  return global_mean_losses(tasks, preds, batch, axis_name), stats
