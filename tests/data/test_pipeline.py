"""Training batches are a function of the seed and their number only: the same with any
number of worker processes, reading threads or hosts, and after resuming; workers exit with
their parent."""

import os
import signal
import subprocess
import sys
import time

import ml_collections
import numpy as np
import pytest

from mtl_jax.data import pipeline
from mtl_jax.data import scenes

KEYS = ("image", "segmentation", "depth", "normals")
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Scenes:
  """A random-access source of 12 rendered scenes, as a built dataset's ``as_data_source()``
  (module level, so worker processes can unpickle it)."""

  def __len__(self):
    return 12

  def __getitem__(self, index):
    return scenes.render_example(0, int(index), 16, 24)


def _config(workers=0, threads=2, augment=True):
  return ml_collections.ConfigDict(dict(
      augment=augment, scales=(1.0, 1.2, 1.5), flip=True, worker_count=workers,
      worker_buffer_size=2, read_threads=threads, read_buffer_size=4))


def _take(iterator, n):
  out = [next(iterator) for _ in range(n)]
  iterator.close()
  return out


def _assert_same(a, b):
  assert len(a) == len(b)
  for x, y in zip(a, b):
    assert sorted(x) == sorted(KEYS)
    for key in KEYS:
      np.testing.assert_array_equal(x[key], y[key])


def test_batches_do_not_depend_on_workers_or_threads():
  """8 batches of 4 from 12 examples cross two epoch boundaries (reshuffled each)."""
  reference = _take(pipeline.train_iterator(Scenes(), _config(0, 1), keys=KEYS, seed=3,
                                            batch_size=4), 8)
  for workers, threads in ((2, 2), (3, 4)):
    _assert_same(_take(pipeline.train_iterator(Scenes(), _config(workers, threads), keys=KEYS,
                                               seed=3, batch_size=4), 8), reference)


def test_each_epoch_is_a_new_permutation_and_augmentation_draws_differ_per_epoch():
  batches = _take(pipeline.train_iterator(Scenes(), _config(augment=False), keys=KEYS, seed=3,
                                          batch_size=4), 6)
  images = np.concatenate([b["image"] for b in batches])  # 24 examples: two epochs of 12.
  source = [pipeline.decode(Scenes()[i], KEYS)["image"] for i in range(12)]
  order = [[next(i for i, s in enumerate(source) if np.array_equal(s, x)) for x in images[e:e + 12]]
           for e in (0, 12)]
  assert sorted(order[0]) == sorted(order[1]) == list(range(12)) and order[0] != order[1]
  other_seed = _take(pipeline.train_iterator(Scenes(), _config(augment=False), keys=KEYS,
                                             seed=4, batch_size=4), 3)
  assert not np.array_equal(np.concatenate([b["image"] for b in other_seed]), images[:12])


def test_hosts_hold_their_rows_of_the_same_global_batches():
  one_host = _take(pipeline.train_iterator(Scenes(), _config(), keys=KEYS, seed=3,
                                           batch_size=8), 4)
  hosts = [_take(pipeline.train_iterator(Scenes(), _config(), keys=KEYS, seed=3, batch_size=4,
                                         shard_index=h, shard_count=2), 4) for h in range(2)]
  joined = [{k: np.concatenate([hosts[0][b][k], hosts[1][b][k]]) for k in KEYS}
            for b in range(4)]
  _assert_same(joined, one_host)


def test_a_resumed_iterator_continues_exactly_whatever_its_workers():
  reference = _take(pipeline.train_iterator(Scenes(), _config(), keys=KEYS, seed=3,
                                            batch_size=4), 7)
  first = pipeline.train_iterator(Scenes(), _config(), keys=KEYS, seed=3, batch_size=4)
  _take(first, 3)
  state = first.get_state()
  assert state == {"batches": 3}
  resumed = pipeline.train_iterator(Scenes(), _config(workers=2), keys=KEYS, seed=3,
                                    batch_size=4)
  resumed.set_state(state)
  _assert_same(_take(resumed, 4), reference[3:])


def test_an_old_state_is_refused_with_a_clear_error():
  iterator = pipeline.train_iterator(Scenes(), _config(), keys=KEYS, seed=3, batch_size=4)
  with pytest.raises(ValueError, match="not this version's .*older mtl_jax"):
    iterator.set_state('{"last_seen_indices": {"0": 7}}')


_ORPHAN_SCRIPT = """
import sys
from tests.data.test_pipeline import Scenes, _config, KEYS
from mtl_jax.data import pipeline
if __name__ == "__main__":  # Spawned workers import __main__ again; flags left unparsed.
  it = pipeline.train_iterator(Scenes(), _config(workers=2), keys=KEYS, seed=3, batch_size=4)
  next(it)
  print("ready", flush=True)
  sys.stdin.read()
"""


def _children(pid):
  out = []
  for entry in os.listdir("/proc"):
    if entry.isdigit():
      try:
        with open(f"/proc/{entry}/stat") as f:
          fields = f.read().rsplit(")", 1)[1].split()
      except OSError:
        continue
      if int(fields[1]) == pid:
        out.append(int(entry))
  return out


def _descendants(pid):
  found, frontier = [], [pid]
  while frontier:
    kids = [c for p in frontier for c in _children(p)]
    found += kids
    frontier = kids
  return found


def _alive(pid):
  try:
    with open(f"/proc/{pid}/stat") as f:
      return f.read().rsplit(")", 1)[1].split()[0] != "Z"
  except OSError:
    return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc (Linux)")
def test_workers_exit_when_the_training_process_is_killed():
  proc = subprocess.Popen([sys.executable, "-c", _ORPHAN_SCRIPT], cwd=_ROOT, text=True,
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL)
  try:
    assert proc.stdout.readline().strip() == "ready"
    workers = _descendants(proc.pid)
    assert workers, "no worker processes were started"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 20
    while time.time() < deadline and any(map(_alive, workers)):
      time.sleep(0.2)
    assert not any(map(_alive, workers)), [w for w in workers if _alive(w)]
  finally:
    if proc.poll() is None:
      proc.kill()
