"""One run per workdir: a lock file naming its owner, released when the run ends.

``hold(workdir)`` creates ``<workdir>/run.lock`` holding the owner's host, pid
and start time, atomically (``O_CREAT | O_EXCL``), and removes it when the run
ends, however it ends. A second run on the same workdir stops with
``WorkdirBusy`` naming the owner. A lock whose owner is gone (a process of this
host that no longer runs, e.g. after kill -9) is taken over, with a warning
naming it; a lock held from another host cannot be checked from here, so the
message says which file to remove once that run is known to be over.
"""

import contextlib
import datetime
import json
import os
import socket
from typing import Iterator

from absl import logging

FILE = "run.lock"


class WorkdirBusy(RuntimeError):
  """Another run holds the workdir; the message names it."""


def _alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # Someone else's process: alive.
    return True
  return True


def _read(path: str) -> dict:
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError):
    return {}  # Half-written or unreadable: treated as an owner that is gone.


def acquire(workdir: str) -> str:
  """Takes the workdir's lock; returns the lock file's path.

  Raises:
    WorkdirBusy: a live run (on this host, or any run on another host) holds it.
  """
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, FILE)
  me = {"host": socket.gethostname(), "pid": os.getpid(),
        "started": datetime.datetime.now().isoformat(timespec="seconds")}
  for _ in range(2):
    try:
      fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
      owner = _read(path)
      same_host = owner.get("host") == me["host"]
      if owner and (not same_host or _alive(int(owner.get("pid", 0)))):
        where = "this host" if same_host else f"host {owner.get('host')}"
        raise WorkdirBusy(
            f"{workdir} is in use by the run of pid {owner.get('pid')} on {where}, started"
            f" {owner.get('started')} (lock {path}); wait for it, stop it, or use another"
            f" workdir" + ("" if same_host else "; remove the lock once that run is over"))
      logging.warning("Taking over %s: its owner (pid %s on %s) is gone", path,
                      owner.get("pid"), owner.get("host"))
      os.remove(path)
      continue
    with os.fdopen(fd, "w") as f:
      json.dump(me, f)
    return path
  raise WorkdirBusy(f"{workdir}: could not take the lock {path}")


def release(path: str) -> None:
  """Removes the lock if this process still owns it."""
  if _read(path).get("pid") == os.getpid():
    os.remove(path)


@contextlib.contextmanager
def hold(workdir: str) -> Iterator[str]:
  """Holds the workdir's lock for the duration of the block."""
  path = acquire(workdir)
  try:
    yield path
  finally:
    release(path)
