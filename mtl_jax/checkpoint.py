"""Checkpoints of the full training state: the only module that imports orbax.

A checkpoint holds the ``TrainState`` (parameters, batch statistics, optimizer
and balancer state, step, key) and the input pipeline's iterator state, so a
run restarted on the same workdir continues exactly where it stopped.

Every checkpoint is sealed once orbax has committed it: ``<step>/SEALED.json``
lists each of its files with its size and SHA-256 (``seal``), written as soon
as the commit is done (a thread polls orbax's progress flag, ``seal_if_done``;
in a multi-process run, at the next save). Restoring the newest checkpoint first verifies it against its
seal, then restores it and checks that every floating-point value is finite
(training never checkpoints a non-finite state, so one that is was damaged;
this also catches most damage to a checkpoint killed between its commit and
its seal); one that fails any of these (a truncated, deleted, emptied or
flipped file, a missing manifest, an empty step directory) is named in one warning, moved aside
to ``<directory>_damaged/<step>`` (never deleted; only a ``repair`` checkpointer,
the training run's, moves anything) and the next newest is tried. When none
restores, ``CheckpointError`` names each one and why, and nothing is moved: a
workdir that holds checkpoints never silently starts again from scratch.
"""

import glob
import hashlib
import json
import logging as py_logging
import os
import re
import shutil
import threading
import time
from typing import Any, Optional

import jax
import numpy as np
import orbax.checkpoint as ocp
from absl import logging

SEAL = "SEALED.json"


def quiet_orbax_errors() -> None:
  """Drops orbax's own error logs (tracebacks from its background threads): every failure they describe reaches ``Checkpointer`` as an exception and is
  reported in one ``CheckpointError`` line. For the console of ``mtl_jax.main``."""
  orbax_dir = os.path.dirname(ocp.__file__)
  py_logging.getLogger("absl").addFilter(
      lambda record: not (record.levelno >= py_logging.ERROR
                          and record.pathname.startswith(orbax_dir)))


class CheckpointError(RuntimeError):
  """No checkpoint restores (or the one asked for does not); the message says why."""


def _files(step_dir: str) -> list[str]:
  paths = []
  for root, _, names in os.walk(step_dir):
    paths += [os.path.relpath(os.path.join(root, n), step_dir) for n in names]
  return sorted(p for p in paths if p != SEAL)


def _sha256(path: str) -> str:
  with open(path, "rb") as f:
    return hashlib.file_digest(f, "sha256").hexdigest()


def seal(step_dir: str) -> None:
  """Writes ``step_dir/SEALED.json``: each file's size and SHA-256 (atomically)."""
  files = {p: [os.path.getsize(os.path.join(step_dir, p)), _sha256(os.path.join(step_dir, p))]
           for p in _files(step_dir)}
  tmp = os.path.join(step_dir, SEAL + ".tmp")
  try:
    with open(tmp, "w") as f:
      json.dump({"files": files}, f, indent=0)
    os.replace(tmp, os.path.join(step_dir, SEAL))
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def nonfinite_leaves(tree) -> list[str]:
  """The paths of the floating-point leaves of ``tree`` (host arrays) holding a NaN or an inf.

  A state with any is never checkpointed, and one restored with any is damaged.

  >>> nonfinite_leaves({"a": np.ones(2), "b": {"c": np.array([1.0, np.nan])}, "d": np.int32(3)})
  ["['b']['c']"]
  """
  bad = []
  for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
    leaf = np.asarray(leaf)
    if np.issubdtype(leaf.dtype, np.floating) and not np.all(np.isfinite(leaf)):
      bad.append(jax.tree_util.keystr(path))
  return bad


def verify(step_dir: str) -> Optional[str]:
  """Why ``step_dir`` does not match its seal (None when it does, or has no seal).

  >>> import tempfile, pathlib
  >>> d = pathlib.Path(tempfile.mkdtemp())
  >>> _ = (d / "a").write_bytes(b"12345678"); seal(str(d)); verify(str(d)) is None
  True
  >>> _ = (d / "a").write_bytes(b"12345679"); verify(str(d))
  'a: its contents changed (SHA-256 differs from the seal)'
  """
  try:
    with open(os.path.join(step_dir, SEAL)) as f:
      files = json.load(f)["files"]
  except FileNotFoundError:
    return None
  except (OSError, ValueError, KeyError) as e:
    return f"{SEAL}: unreadable ({e})"
  for rel, (size, digest) in sorted(files.items()):
    path = os.path.join(step_dir, rel)
    if not os.path.exists(path):
      return f"{rel}: missing"
    if os.path.getsize(path) != size:
      return f"{rel}: {os.path.getsize(path)} bytes, sealed with {size}"
    if _sha256(path) != digest:
      return f"{rel}: its contents changed (SHA-256 differs from the seal)"
  return None


def _write_failure(e: Exception) -> str:
  """The file and the cause of a failed write, from an OSError or tensorstore's message."""
  if isinstance(e, OSError) and e.filename:
    return f"{e.filename}: {e.strerror or e}"
  text = str(e)
  path = re.search(r'Failed (?:writing|to write)[^"]*"([^"]+)"', text)
  cause = re.search(r"(No space left on device|File too large|Permission denied|"
                    r"Disk quota exceeded|Read-only file system)", text)
  if path and cause:
    return f"{path.group(1)}: {cause.group(1)}"
  return _reason(e)


def _reason(e: Exception) -> str:
  first = (str(e).strip().splitlines() or [""])[0][:200]
  return f"{type(e).__name__}: {first}" if first else type(e).__name__


class Checkpointer:
  """Periodic checkpoints in ``directory`` keeping the newest ``max_to_keep``.

  ``repair``: the training run's checkpointer (it holds the workdir's lock)
  removes orbax's unfinished temporary directories and moves damaged
  checkpoints aside; any other (a notebook's ``train.restore``) only skips them.

  Example:
    >>> import tempfile, numpy as np
    >>> ckpt = Checkpointer(tempfile.mkdtemp(), max_to_keep=1)
    >>> ckpt.save(3, {"w": np.ones(2)}, {"position": 7})
    >>> ckpt.restore({"w": np.zeros(2)})
    ({'w': array([1., 1.])}, {'position': 7})
    >>> ckpt.close()
  """

  def __init__(self, directory: str, max_to_keep: int = 2, repair: bool = False):
    self.directory = os.path.abspath(directory)
    self._repair = repair
    options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True,
                                           cleanup_tmp_directories=repair)
    self._manager = ocp.CheckpointManager(self.directory, options=options,
                                          item_names=("state", "data"))
    self._unsealed: list[int] = []
    self._failed = False  # A save failed and was reported: closing raises nothing more.
    self._seal_lock = threading.Lock()


  def latest_step(self) -> Optional[int]:
    """The newest saved step, or None when there is no checkpoint."""
    return self._manager.latest_step()

  def step_dir(self, step: int) -> str:
    return os.path.join(self.directory, str(step))

  def save(self, step: int, state: Any, data_state: Optional[dict] = None) -> None:
    """Saves ``state`` (copied to host first) and the data iterator's state at ``step``.

    The save runs in the background; the previous one is sealed first.
    """
    self._seal_committed()
    state = jax.device_get(state)
    args = ocp.args.Composite(state=ocp.args.StandardSave(state),
                              data=ocp.args.JsonSave(data_state or {}))
    with self._seal_lock:
      self._unsealed.append(step)
    try:
      self._manager.save(step, args=args)
    except Exception as e:  # Orbax reports a failed write as OSError or ValueError.
      raise self._save_error(e) from e
    if jax.process_count() == 1:
      threading.Thread(target=self._seal_soon, daemon=True, name=f"seal {step}").start()

  def seal_if_done(self) -> bool:
    """Seals the save in flight if orbax has committed it (a cheap check, no waiting).

    Returns whether nothing is left to do (no save in flight). A thread started
    by ``save`` calls it every 50 ms until then, so the window in which a kill
    leaves the newest checkpoint committed but unsealed is the hashing's, not
    a checkpoint interval. It only reads orbax's progress flag and the files;
    waiting for a save (and reporting its failure) stays with ``save``,
    ``wait`` and ``close``. In a multi-process run the processes seal at the
    next save.
    """
    with self._seal_lock:
      if not self._unsealed or jax.process_count() > 1:
        return True
      if self._manager.is_saving_in_progress():
        return False
      sealed = []
      for step in self._unsealed:
        if os.path.isdir(self.step_dir(step)):  # Committed (a failed save has no step dir).
          if not os.path.exists(os.path.join(self.step_dir(step), SEAL)):
            seal(self.step_dir(step))
          sealed.append(step)
      self._unsealed = [step for step in self._unsealed if step not in sealed]
      return True

  def _seal_soon(self) -> None:
    try:
      while not self.seal_if_done():
        time.sleep(0.05)
    except Exception:  # pylint: disable=broad-except
      pass  # A full disk, a closed manager: the next save, wait or close reports a failure.

  def _seal_committed(self) -> None:
    """Waits for the background save, then seals what it committed.

    Raises:
      CheckpointError: the save (or the seal) could not be written, e.g. a
        full disk; the message names the file, the free space and the
        previous checkpoint, verified.
    """
    try:
      self._manager.wait_until_finished()
      with self._seal_lock:
        if jax.process_index() == 0:
          for step in self._unsealed:
            if os.path.isdir(self.step_dir(step)):  # Not already removed by max_to_keep.
              seal(self.step_dir(step))
        self._unsealed = []
    except Exception as e:  # pylint: disable=broad-except
      raise self._save_error(e) from e

  def _save_error(self, e: Exception) -> CheckpointError:
    step, self._unsealed, self._failed = (self._unsealed or [None])[-1], [], True
    if step is not None and jax.process_index() == 0:
      # Half-written: removed, never mistaken for a checkpoint (a committed but unsealed one
      # stays; it is verified by orbax when restored).
      for leftover in glob.glob(f"{glob.escape(self.step_dir(step))}.orbax-checkpoint-tmp*"):
        shutil.rmtree(leftover, ignore_errors=True)
    try:
      free = f"{shutil.disk_usage(self.directory).free / 2**20:.1f} MiB free"
    except OSError:
      free = "free space unknown"
    previous = [s for s in self._manager.all_steps() if s != step]
    if previous:
      why = verify(self.step_dir(max(previous)))
      kept = (f"checkpoint {max(previous)} is intact (verified)" if why is None
              else f"checkpoint {max(previous)} does not verify: {why}")
    else:
      kept = "there is no earlier checkpoint"
    return CheckpointError(f"could not write checkpoint {step} ({_write_failure(e)}; {free});"
                           f" {kept}")

  def _restore_one(self, target: Any, step: int) -> tuple[Any, dict]:
    why = verify(self.step_dir(step))
    if why is not None:
      raise CheckpointError(why)
    args = ocp.args.Composite(state=ocp.args.StandardRestore(target), data=ocp.args.JsonRestore())
    try:
      restored = self._manager.restore(step, args=args)
    except Exception as e:  # Orbax's errors on a damaged checkpoint have many types.
      raise CheckpointError(_reason(e)) from e
    bad = nonfinite_leaves(restored.state)
    if bad:
      raise CheckpointError(f"{len(bad)} leaves hold NaN or inf values (first: {bad[0]}); no"
                            " finite state was checkpointed like that")
    return restored.state, dict(restored.data or {})

  def restore(self, target: Any, step: Optional[int] = None) -> tuple[Any, dict]:
    """``(state, data_state)`` at ``step`` (default: the newest that restores), shaped like
    ``target``.

    ``target`` gives the tree structure and types (optax and balancer states keep
    their NamedTuple types only when restored with a target); ``None`` restores
    plain nested containers of arrays.

    Raises:
      FileNotFoundError: there is no checkpoint.
      CheckpointError: ``step`` (or, without it, every checkpoint) is damaged.
    """
    target = None if target is None else jax.device_get(target)
    if step is not None:
      try:
        return self._restore_one(target, step)
      except CheckpointError as e:
        raise CheckpointError(f"checkpoint {self.step_dir(step)} does not restore: {e}") from e
    steps = sorted(self._manager.all_steps(), reverse=True)
    if not steps:
      raise FileNotFoundError(f"no checkpoint in {self.directory}")
    damaged = []
    for candidate in steps:
      try:
        restored = self._restore_one(target, candidate)
      except CheckpointError as e:
        damaged.append((candidate, str(e)))
        continue
      for bad, why in damaged:
        self._set_aside(bad, why, candidate)
      if damaged and self._repair:
        self._manager.reload()
      return restored
    raise CheckpointError(
        f"no checkpoint in {self.directory} restores ("
        + "; ".join(f"step {s}: {why}" for s, why in damaged)
        + "); move them aside to start the run again from scratch")

  def _set_aside(self, step: int, why: str, fallback: int) -> None:
    if not self._repair:
      logging.warning("Checkpoint %s is damaged (%s); using step %d", self.step_dir(step), why,
                      fallback)
      return
    aside = os.path.join(f"{self.directory}_damaged", str(step))
    n = 1
    while os.path.exists(aside):
      n += 1
      aside = os.path.join(f"{self.directory}_damaged", f"{step}-{n}")
    if jax.process_index() == 0:
      os.makedirs(os.path.dirname(aside), exist_ok=True)
      shutil.move(self.step_dir(step), aside)
    logging.warning("Checkpoint %s is damaged (%s); moved to %s; resuming from step %d",
                    self.step_dir(step), why, aside, fallback)

  def wait(self) -> None:
    """Blocks until pending (asynchronous) saves are on disk and sealed."""
    self._seal_committed()

  def close(self) -> None:
    try:
      self._seal_committed()
      self._manager.close()
    except Exception:  # pylint: disable=broad-except
      if not self._failed:
        raise
