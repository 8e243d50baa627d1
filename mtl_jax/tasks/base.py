"""What every task provides: a head size, a loss, and metric accumulators.

A task reads its ground truth from ``batch[task.name]`` and the network's raw
head output ``pred`` of shape ``[B, H, W, task.channels]``.

Losses return ``(sum, count)`` rather than a mean, so that the data-parallel
step can divide the sum over all devices by the count over all devices: the
loss of the global batch, exactly, whatever the valid pixels per device.

Metrics are accumulators (sums, confusion matrices, histograms): ``metric_init``
gives zeros, ``metric_update`` adds a batch (jittable; accumulators from several
devices combine by ``psum``), ``metric_result`` reduces once at the end.
"""

from typing import Any, Protocol

import jax

Batch = dict[str, jax.Array]


class Task(Protocol):
  name: str
  channels: int
  # metric name -> True if higher is better (the sign used by delta_m).
  higher_is_better: dict[str, bool]

  def loss_terms(self, pred: jax.Array, batch: Batch) -> tuple[jax.Array, jax.Array]:
    """(sum of per-pixel losses over valid pixels, number of valid pixels)."""

  def predict(self, pred: jax.Array) -> jax.Array:
    """The prediction a user looks at (class ids, depth, unit normals)."""

  def metric_init(self) -> Any:
    """Zero accumulators."""

  def metric_update(self, acc: Any, pred: jax.Array, batch: Batch) -> Any:
    """Accumulators with one more batch added."""

  def metric_result(self, acc: Any) -> dict[str, jax.Array]:
    """Final metrics from the accumulators, keyed by metric name."""
