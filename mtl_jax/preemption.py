"""Stopping cleanly on SIGTERM or Ctrl-C: finish the step, checkpoint, then stop.

Clusters and Colab stop jobs with SIGTERM or an interrupt. Inside
``StopOnSignal`` the first such signal only sets ``requested``; the training
loop checks it after every step, saves a checkpoint and raises
``KeyboardInterrupt``. A second Ctrl-C interrupts at once.
"""

import signal
import threading


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
    self._previous = {}

  def _handle(self, signum, frame):
    del frame
    if self.requested and signum == signal.SIGINT:
      raise KeyboardInterrupt
    self.requested = True

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
