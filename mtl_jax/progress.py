"""A console progress bar with throughput (images per second) and losses."""

import time
from typing import Optional

import tqdm


class Progress:
  """Training progress from ``start`` to ``total`` steps of ``batch_size`` images."""

  def __init__(self, start: int, total: int, batch_size: int):
    self._bar = tqdm.tqdm(initial=start, total=total, unit="step", dynamic_ncols=True)
    self._batch_size = batch_size
    self._last_step = start
    self._last_time = time.perf_counter()

  def update(self, step: int, values: dict[str, float]) -> Optional[float]:
    """Moves the bar to ``step`` and shows images/s since the last update and the losses;
    returns that throughput (None if the bar did not move)."""
    now = time.perf_counter()
    steps = step - self._last_step
    rate = None
    if steps > 0:
      rate = steps * self._batch_size / max(now - self._last_time, 1e-9)
      losses = {k.split("/", 1)[1]: f"{v:.3g}" for k, v in values.items() if k.startswith("loss/")}
      self._bar.set_postfix({"img/s": f"{rate:.1f}", **losses}, refresh=False)
      self._bar.update(steps)
    self._last_step, self._last_time = step, now
    return rate

  def write(self, message: str) -> None:
    self._bar.write(message)

  def close(self) -> None:
    self._bar.close()
