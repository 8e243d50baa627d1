"""What every task provides: a head size, a loss, and metric accumulators.

A task reads its ground truth from ``batch[task.name]`` and the network's raw
head output ``pred`` of shape ``[B, H, W, task.channels]``.

Losses return ``(sum, count)`` rather than a mean, so that the data-parallel
step can divide the sum over all devices by the count over all devices: the
loss of the global batch, exactly, whatever the valid pixels per device. A loss
made of several means over different sets (pixels, images, positions) returns
``(sums [K], counts [K])``; the task's loss is then ``Σ_k sums_k / counts_k``,
each term summed over devices before the division.

A task reads ``batch[task.name]``, and any other keys listed in its optional
``inputs`` attribute (default ``(task.name,)``), which the input pipeline then
loads. During training the batch also holds ``step`` (int32 scalar, the
number of updates applied before this one), for losses with a schedule.

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
    """(sum of per-pixel losses over valid pixels, number of valid pixels), or
    ``(sums [K], counts [K])`` for a loss of K terms."""

  def predict(self, pred: jax.Array) -> jax.Array:
    """The prediction a user looks at (class ids, depth, unit normals)."""

  def metric_init(self) -> Any:
    """Zero accumulators."""

  def metric_update(self, acc: Any, pred: jax.Array, batch: Batch) -> Any:
    """Accumulators with one more batch added."""

  def metric_result(self, acc: Any) -> dict[str, jax.Array]:
    """Final metrics from the accumulators, keyed by metric name."""
