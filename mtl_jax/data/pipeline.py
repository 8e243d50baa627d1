"""The input pipeline: grain over a random-access tfds source.

Training (``train_iterator``): an endless stream of epochs, each shuffled
from the seed, decoded and augmented (random scale-crop, horizontal flip) per
example from the seed and the example's index, cut into global batches of which
each host takes its rows. Every batch is thus a function of the seed and its
number alone, the same with any number of worker processes, reading threads
or hosts (tested). Worker processes (``config.input.worker_count``) compute
batches ahead of the device, and exit when the training process dies; each
process reads and decodes records in ``config.input.read_threads`` threads, at
most ``read_buffer_size`` ahead. The iterator's state is the number of batches
taken (``get_state``/``set_state``), which checkpoints store, so a resumed run
sees exactly the batches an uninterrupted one would.

Evaluation: every example of the split once, in order, in fixed-size batches;
the last batch is padded with examples whose ground truth is all invalid
(each modality's ``invalid`` value: segmentation -1, depth 0, normals 0), which
every metric ignores.

Batches are dicts of NumPy arrays, one per key, as ``modalities.decode`` makes
them: ``image`` uint8 ``[B, H, W, 3]``, ``segmentation`` int32 ``[B, H, W]``
(-1 = ignore), ``depth`` float32 ``[B, H, W]`` (0 = invalid), ``normals``
float32 ``[B, H, W, 3]`` (0 = invalid).
"""

import functools
import os
import threading
import time
from typing import Any, Iterator, Sequence

import grain
import ml_collections
import numpy as np
from absl import flags

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


class _HostSlice(grain.MapDataset):
  """This host's examples of each global batch of ``parent`` (an endless stream).

  Element ``i`` here is element ``(i // per_host) * global_batch + host * per_host
  + i % per_host`` of the global stream: host ``h`` holds rows ``[h * per_host,
  (h + 1) * per_host)`` of every global batch, whatever the number of hosts.
  """

  def __init__(self, parent, global_batch: int, host: int, hosts: int):
    super().__init__(parent)
    self._global, self._per_host, self._host = global_batch, global_batch // hosts, host
    self._length = len(parent) // hosts

  def __len__(self) -> int:
    return self._length

  def __str__(self) -> str:
    return f"_HostSlice(host={self._host}, per_host={self._per_host})"

  def __getitem__(self, index):
    if isinstance(index, slice):
      return self.slice(index)
    batch, row = divmod(index, self._per_host)
    return self._parent[batch * self._global + self._host * self._per_host + row]


def _exit_with_parent(worker_index: int, worker_count: int, *, parent: int) -> None:
  """In each worker process: exit when the training process ``parent`` is gone (even after
  kill -9, which leaves it no chance to stop the workers), instead of living on under init."""
  del worker_index, worker_count

  def watch():
    while os.getppid() == parent:
      time.sleep(1.0)
    os._exit(0)  # pylint: disable=protected-access

  threading.Thread(target=watch, daemon=True, name="exit_with_parent").start()


class TrainBatches:
  """The endless training batches of one host, checkpointable by position.

  Batch ``n`` is a function of the seed and ``n`` only: the global stream of
  examples is shuffled per epoch and augmented per example from the seed and the
  example's index, each host takes its rows of each global batch, and worker
  processes and reading threads only compute ahead. The state (``get_state``) is
  the number of batches taken, the same on every host, so a resumed run,
  on any number of workers, sees exactly the batches an uninterrupted one would.
  """

  def __init__(self, batches: grain.MapDataset, input_config: ml_collections.ConfigDict):
    self._batches, self._config = batches, input_config
    self._position, self._iterator = 0, None

  def _start(self):
    config = self._config
    dataset = self._batches[self._position:].to_iter_dataset(grain.ReadOptions(
        num_threads=config.read_threads, prefetch_buffer_size=config.read_buffer_size))
    if config.worker_count:
      if not flags.FLAGS.is_parsed():  # grain reads its absl flags; a notebook parses none.
        flags.FLAGS.mark_as_parsed()
      dataset = dataset.mp_prefetch(
          grain.MultiprocessingOptions(num_workers=config.worker_count,
                                       per_worker_buffer_size=config.worker_buffer_size),
          worker_init_fn=functools.partial(_exit_with_parent, parent=os.getpid()))
    return iter(dataset)

  def __iter__(self):
    return self

  def __next__(self) -> dict:
    if self._iterator is None:
      self._iterator = self._start()
    batch = next(self._iterator)
    self._position += 1
    return batch

  def get_state(self) -> dict:
    return {"batches": self._position}

  def set_state(self, state: dict) -> None:
    if not isinstance(state, dict) or not isinstance(state.get("batches"), int):
      raise ValueError(
          f"input pipeline state {state!r:.80}: not this version's ({{'batches': n}}); the"
          " checkpoint was written by an older mtl_jax and cannot resume its data order")
    self.close()
    self._position = state["batches"]

  def close(self) -> None:
    """Stops the worker processes (they also exit on their own when this process dies)."""
    if self._iterator is not None and hasattr(self._iterator, "close"):
      self._iterator.close()
    self._iterator = None


def train_iterator(source: Any, input_config: ml_collections.ConfigDict, *,
                   keys: Sequence[str], seed: int, batch_size: int, shard_index: int = 0,
                   shard_count: int = 1) -> TrainBatches:
  """An endless, checkpointable iterator of augmented training batches.

  Args:
    source: a random-access source (``len`` and ``__getitem__``).
    input_config: ``config.input`` (``augment``, ``scales``, ``flip``,
      ``worker_count``, ``worker_buffer_size``, ``read_threads``,
      ``read_buffer_size``).
    keys: the keys to keep ("image" and the tasks' ground truth).
    seed: the shuffle and augmentation seed.
    batch_size: examples per batch on this host (the global batch is
      ``batch_size * shard_count``).
    shard_index: this host's index.
    shard_count: the number of hosts.
  """
  examples = grain.MapDataset.source(source).shuffle(seed=seed).repeat()  # A new order per epoch.
  examples = examples.map(_Decode(keys))
  if input_config.augment:
    examples = examples.random_map(_Augment(input_config.scales, input_config.flip), seed=seed)
  if shard_count > 1:
    examples = _HostSlice(examples, batch_size * shard_count, shard_index, shard_count)
  return TrainBatches(examples.batch(batch_size, drop_remainder=True), input_config)


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
