"""Batches with valid values for every key, for benchmarks that time a step without a dataset."""

import numpy as np

from mtl_jax.data import modalities


def batch(input_keys, batch_size: int, height: int, width: int, num_classes: int,
                     seed: int = 0) -> dict:
  """A batch with valid values for every key (labels in range, positive depths, unit normals)."""
  rng = np.random.default_rng(seed)
  batch = {}
  for key in input_keys:
    modality = modalities.get(key)
    shape = (batch_size, height, width) + ((modality.channels,) if modality.channels else ())
    if key == "image":
      value = rng.integers(0, 256, shape)
    elif np.issubdtype(np.dtype(modality.dtype), np.integer):
      value = rng.integers(0, num_classes, shape)
    elif key == "normals":
      value = rng.normal(size=shape)
      value /= np.linalg.norm(value, axis=-1, keepdims=True)
    else:
      value = rng.uniform(0.5, 5.0, shape)
    batch[key] = value.astype(modality.dtype)
  return batch
