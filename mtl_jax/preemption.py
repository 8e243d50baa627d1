"""Stopping cleanly on SIGTERM or Ctrl-C: finish the step, checkpoint, then stop.

Clusters and Colab stop jobs with SIGTERM or an interrupt. Inside
``StopOnSignal`` the first such signal only sets ``requested`` (and records
which signal it was); the training loop checks it after every step, saves a
checkpoint and raises ``Stopped``, a ``KeyboardInterrupt`` that carries the
signal and the step. ``python -m mtl_jax.main`` reports it in one line and
exits with the conventional status of the signal, 128 + its number (143 for
SIGTERM, 130 for Ctrl-C). A second Ctrl-C interrupts at once.
"""

import signal
import threading
from typing import Optional


class Stopped(KeyboardInterrupt):
  """A run stopped by a signal after checkpointing; ``signum`` and ``step`` say which and when."""

  def __init__(self, signum: int, step: int, workdir: str):
    self.signum, self.step, self.workdir = signum, step, workdir
    super().__init__(f"stopped by {signal.Signals(signum).name} at step {step}; checkpoint saved"
                     f" in {workdir}; rerun the same command to resume")

  @property
  def exit_status(self) -> int:
    """128 + the signal's number, the shells' convention."""
    return 128 + self.signum


class StopOnSignal:
  """Context manager turning SIGTERM/SIGINT into a request to stop.

  Outside the main thread (where Python cannot install handlers) it does
  nothing and ``requested`` stays False.

  Example:
    >>> with StopOnSignal() as stop:
    ...   stop.requested
    False
  """

  SIGNALS = (signal.SIGTERM, signal.SIGINT)

  def __init__(self):
    self.requested = False
    self.signum: Optional[int] = None
    self._previous = {}

  def _handle(self, signum, frame):
    del frame
    if self.requested and signum == signal.SIGINT:
      raise KeyboardInterrupt
    self.requested = True
    self.signum = signum

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      for sig in self.SIGNALS:
        self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)
    self._previous.clear()
    return False
