"""What every wrapper shares: the wrapped network's interface, and checks of its options."""

from typing import Sequence


class Wrapped:
  """A mixin for wrapper modules with a ``network`` attribute: forwards the network interface.

  ``task_channels`` and ``COUPLED_DECODERS`` are the wrapped network's (so a
  wrapped DenseMTL still decodes once for all tasks' gradients).
  """

  @property
  def task_channels(self):
    """The wrapped network's tasks and head channels."""
    return self.network.task_channels

  @property
  def COUPLED_DECODERS(self) -> bool:  # pylint: disable=invalid-name
    """The wrapped network's (the step then decodes once for all tasks' gradients)."""
    return getattr(self.network, "COUPLED_DECODERS", False)


def check_tasks(option: str, wrapper: str, tasks: Sequence[str], network) -> None:
  """Raises ``ValueError("<option>: ...")`` unless the network predicts every task of ``tasks``."""
  predicted = tuple(network.task_channels)
  for task in tasks:
    if task not in predicted:
      raise ValueError(f"{option}: {wrapper} needs task {task!r}, which the network does not"
                       f" predict (its tasks, config.tasks.names: {', '.join(predicted)})")


def check_positive_int(option: str, value) -> None:
  """Raises ``ValueError("<option>: ...")`` unless ``value`` is an integer >= 1."""
  if isinstance(value, bool) or not isinstance(value, int) or value < 1:
    raise ValueError(f"{option}: must be a positive integer, got {value!r}")
