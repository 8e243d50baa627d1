"""Runs of ``python -m mtl_jax.main`` at one budget, for the benchmarks that print accuracy tables.

A row is a config file and overrides; ``run`` trains it in its own workdir
(unless that workdir already holds the final evaluation) and returns that
evaluation and the wall time. Shared by ``seed_losses_table`` and
``variants_table``.
"""

import json
import os
import subprocess
import sys
import time
from typing import Optional, Sequence


def budget(steps: int) -> list[str]:
  """The overrides that give every row the same schedule of ``steps`` steps."""
  return [f"schedule.num_steps={steps}", f"schedule.warmup_steps={max(1, steps // 20)}",
          f"eval.every_steps={steps}", f"schedule.checkpoint_every={steps}",
          "eval.at_start=False"]


def final(metrics_file: str, steps: int) -> Optional[dict]:
  """The evaluation at ``steps`` in ``metrics_file`` (None if there is none)."""
  if not os.path.exists(metrics_file):
    return None
  with open(metrics_file) as f:
    rows = [json.loads(line) for line in f if line.strip()]
  return next((r for r in rows if r["step"] == steps), None)


def run(name: str, config: str, overrides: Sequence[str], workdir: str,
        steps: int) -> tuple[dict, float]:
  """Final metrics of a row (training it unless done) and its wall time in seconds."""
  metrics_file = os.path.join(workdir, "metrics.jsonl")
  start = time.time()
  if not final(metrics_file, steps):
    command = [sys.executable, "-m", "mtl_jax.main", f"--config={config}",
               f"--workdir={workdir}"] + [f"--config.{o}" for o in overrides]
    print(f"[{name}] {' '.join(command[1:])}", file=sys.stderr, flush=True)
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode:
      raise RuntimeError(f"row {name} failed:\n{proc.stderr[-4000:]}")
  result = final(metrics_file, steps)
  if result is None:
    raise RuntimeError(f"row {name}: no evaluation at step {steps} in {metrics_file}")
  return result, time.time() - start


def cell(results: dict, key: str) -> str:
  """A table cell: two decimals from 1 up, four below, a dash when missing."""
  value = results.get(key)
  return "–" if value is None else f"{value:.2f}" if abs(value) >= 1 else f"{value:.4f}"
