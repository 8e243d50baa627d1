"""Checkpoints of the full training state: the only module that imports orbax.

A checkpoint holds the ``TrainState`` (parameters, batch statistics, optimizer
and balancer state, step, key) and the input pipeline's iterator state, so a
run restarted on the same workdir continues exactly where it stopped.
"""

import os
from typing import Any, Optional

import jax
import orbax.checkpoint as ocp


class Checkpointer:
  """Periodic checkpoints in ``directory`` keeping the newest ``max_to_keep``.

  Example:
    >>> import tempfile, numpy as np
    >>> ckpt = Checkpointer(tempfile.mkdtemp(), max_to_keep=1)
    >>> ckpt.save(3, {"w": np.ones(2)}, {"position": 7})
    >>> ckpt.restore({"w": np.zeros(2)})
    ({'w': array([1., 1.])}, {'position': 7})
    >>> ckpt.close()
  """

  def __init__(self, directory: str, max_to_keep: int = 2):
    options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True)
    self._manager = ocp.CheckpointManager(
        os.path.abspath(directory), options=options, item_names=("state", "data"))

  def latest_step(self) -> Optional[int]:
    """The newest saved step, or None when there is no checkpoint."""
    return self._manager.latest_step()

  def save(self, step: int, state: Any, data_state: Optional[dict] = None) -> None:
    """Saves ``state`` (copied to host first) and the data iterator's state at ``step``."""
    state = jax.device_get(state)
    args = ocp.args.Composite(state=ocp.args.StandardSave(state),
                              data=ocp.args.JsonSave(data_state or {}))
    self._manager.save(step, args=args)

  def restore(self, target: Any, step: Optional[int] = None) -> tuple[Any, dict]:
    """``(state, data_state)`` at ``step`` (default: the newest), shaped like ``target``.

    ``target`` gives the tree structure and types (optax and balancer states keep
    their NamedTuple types only when restored with a target); ``None`` restores
    plain nested containers of arrays.
    """
    step = self.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError("no checkpoint to restore")
    target = None if target is None else jax.device_get(target)
    args = ocp.args.Composite(state=ocp.args.StandardRestore(target), data=ocp.args.JsonRestore())
    restored = self._manager.restore(step, args=args)
    return restored.state, dict(restored.data or {})

  def wait(self) -> None:
    """Blocks until pending (asynchronous) saves are on disk."""
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()
