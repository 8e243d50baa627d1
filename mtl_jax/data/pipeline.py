"""The input pipeline: grain over a random-access tfds source.

Training: a seeded shuffle over an endless stream of epochs, sharded per host,
decoded and augmented (random scale-crop, horizontal flip) and batched in
worker processes, ahead of the device. Each process reads and decodes records
in ``config.input.read_threads`` threads, at most ``read_buffer_size`` ahead.
The iterator's state is a small string (``get_state``/``set_state``) that
checkpoints store, so a resumed run sees exactly the batches an uninterrupted
one would.

Evaluation: every example of the split once, in order, in fixed-size batches;
the last batch is padded with examples whose ground truth is all invalid
(each modality's ``invalid`` value: segmentation -1, depth 0, normals 0), which
every metric ignores.

Batches are dicts of NumPy arrays, one per key, as ``modalities.decode`` makes
them: ``image`` uint8 ``[B, H, W, 3]``, ``segmentation`` int32 ``[B, H, W]``
(-1 = ignore), ``depth`` float32 ``[B, H, W]`` (0 = invalid), ``normals``
float32 ``[B, H, W, 3]`` (0 = invalid).
"""

from typing import Any, Iterator, Sequence

import grain
import ml_collections
import numpy as np

from mtl_jax.data import augment
from mtl_jax.data import modalities

decode = modalities.decode  # A stored example as the arrays a batch holds.


class _Decode(grain.transforms.Map):
  def __init__(self, keys):
    self.keys = tuple(keys)

  def map(self, element):
    return decode(element, self.keys)


class _Augment(grain.transforms.RandomMap):
  """Random scale-crop then horizontal flip, from the element's own seeded rng."""

  def __init__(self, scales, flip):
    self.scales = tuple(scales)
    self.flip = flip

  def random_map(self, element, rng: np.random.Generator):
    if len(self.scales) > 1 or self.scales[0] != 1.0:
      element = augment.random_scale_crop(element, rng, scales=self.scales)
    if self.flip:
      element = augment.random_flip(element, rng)
    return element


def train_iterator(source: Any, input_config: ml_collections.ConfigDict, *,
                   keys: Sequence[str], seed: int, batch_size: int, shard_index: int = 0,
                   shard_count: int = 1) -> grain.DataLoaderIterator:
  """An endless, checkpointable iterator of augmented training batches.

  Args:
    source: a random-access source (``len`` and ``__getitem__``).
    input_config: ``config.input`` (``augment``, ``scales``, ``flip``,
      ``worker_count``, ``worker_buffer_size``, ``read_threads``,
      ``read_buffer_size``).
    keys: the keys to keep ("image" and the tasks' ground truth).
    seed: the shuffle and augmentation seed.
    batch_size: examples per batch on this host.
    shard_index: this host's index.
    shard_count: the number of hosts.
  """
  operations = [_Decode(keys)]
  if input_config.augment:
    operations.append(_Augment(input_config.scales, input_config.flip))
  operations.append(grain.transforms.Batch(batch_size, drop_remainder=True))
  shard = grain.sharding.ShardOptions(shard_index, shard_count, drop_remainder=True)
  sampler = grain.samplers.IndexSampler(
      num_records=len(source), shard_options=shard, shuffle=True, num_epochs=None, seed=seed)
  loader = grain.DataLoader(
      data_source=source, sampler=sampler, operations=operations,
      worker_count=input_config.worker_count,
      worker_buffer_size=input_config.worker_buffer_size,
      read_options=grain.ReadOptions(num_threads=input_config.read_threads,
                                     prefetch_buffer_size=input_config.read_buffer_size))
  return iter(loader)


def eval_batches(source: Any, *, keys: Sequence[str], batch_size: int, shard_index: int = 0,
                 shard_count: int = 1, max_batches: int = 0) -> Iterator[dict]:
  """Every example of this host's shard once, in batches of ``batch_size``.

  The last batch is padded with invalid ground truth. Hosts get equally many
  batches (shards differ by at most one example), as collectives require.
  ``max_batches > 0`` stops early.
  """
  indices = np.arange(len(source))[shard_index::shard_count]
  per_host = -(-len(source) // shard_count)
  num_batches = -(-per_host // batch_size)
  if max_batches:
    num_batches = min(num_batches, max_batches)
  for b in range(num_batches):
    chunk = indices[b * batch_size:(b + 1) * batch_size]
    examples = [decode(source[int(i)], keys) for i in chunk]
    while len(examples) < batch_size:
      examples.append(_invalid_like(examples[0] if examples else decode(source[0], keys)))
    yield {k: np.stack([e[k] for e in examples]) for k in keys}


def _invalid_like(example: dict) -> dict:
  """An example of the same keys and shapes whose every pixel is invalid."""
  return {k: np.full_like(v, modalities.get(k).invalid) for k, v in example.items()}
