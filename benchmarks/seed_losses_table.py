"""A network with and without each seed piece, at one budget: a Markdown table.

    python -m benchmarks.seed_losses_table --steps=600 --workdir=/tmp/mtl_jax/seed_losses

Trains, through ``python -m mtl_jax.main``, one run per row at the same number
of steps (``--steps``; the schedule's warm-up and the Self-Regulation warm-up
scale with it) and prints the final evaluation of each:

* ``baseline``: ``configs/synthetic.py`` (also evaluated with average fusion
  over scales 0.5, 1 and 2);
* ``attention_loss``: ``configs/synthetic_mtran_attention_loss.py``;
* ``self_regulation``: ``configs/synthetic_mtran_self_regulation.py``;
* ``hmsa``: ``configs/synthetic_mtran_hmsa.py`` (segmentation fused);
* ``hmsa_depth``: the same with depth fused too.

Every row runs the network named by ``--model`` (default ``mtran``); ``--set
key=value`` (repeatable) passes ``--config.key=value`` to every run, e.g. for a
quick check on a tiny setting:

    python -m benchmarks.seed_losses_table --model=hps --steps=4 --workdir=/tmp/seed_tiny \\
        --set=dataset.height=32 --set=dataset.width=48 --set=dataset.num_train=32 \\
        --set=dataset.num_test=16 --set=model.kwargs.widths="(4,8)" --set=input.worker_count=0

A row whose workdir already holds its final evaluation is read, not rerun.
"""

import json
import os
import subprocess
import sys
import time

from absl import app
from absl import flags

_MODEL = flags.DEFINE_string("model", "mtran", "config.model.name of every row.")
_STEPS = flags.DEFINE_integer("steps", 600, "Training steps of every row.")
_WORKDIR = flags.DEFINE_string("workdir", "/tmp/mtl_jax/seed_losses", "One subdirectory per row.")
_ROWS = flags.DEFINE_list("rows", None, "Rows to run (default: all).")
_SET = flags.DEFINE_multi_string("set", [], "key=value, passed as --config.key=value to every run.")

SCALES = "(0.5,1.0,2.0)"
ROWS = {
    "baseline": ("configs/synthetic.py",
                 [f"eval.scales={SCALES}", "eval.fusions=('average',)"]),
    "attention_loss": ("configs/synthetic_mtran_attention_loss.py", []),
    "self_regulation": ("configs/synthetic_mtran_self_regulation.py", []),
    "hmsa": ("configs/synthetic_mtran_hmsa.py", []),
    "hmsa_depth": ("configs/synthetic_mtran_hmsa.py",
                   ["model.wrapper_kwargs.tasks=('segmentation','depth')"]),
}
# (metric key, column title) of the main table: every row's own (single-scale) prediction.
COLUMNS = [("segmentation/miou", "mIoU ↑"), ("segmentation/pixel_acc", "pix acc ↑"),
           ("depth/abs_err", "depth abs ↓"), ("depth/rel_err", "depth rel ↓"),
           ("normals/mean_angle", "normals mean ° ↓")]
FUSED = [("segmentation/miou", "mIoU"), ("depth/abs_err", "depth abs")]


def run_row(name: str, workdir: str) -> tuple[dict, float]:
  """Final metrics of row ``name`` (training it unless done) and its wall time in seconds."""
  config, overrides = ROWS[name]
  steps = _STEPS.value
  overrides = overrides + [
      f"model.name={_MODEL.value}", f"schedule.num_steps={steps}",
      f"schedule.warmup_steps={max(1, steps // 20)}", f"eval.every_steps={steps}",
      f"schedule.checkpoint_every={steps}", "eval.at_start=False"] + list(_SET.value)
  metrics_file = os.path.join(workdir, "metrics.jsonl")
  start = time.time()
  if not _final(metrics_file, steps):
    command = [sys.executable, "-m", "mtl_jax.main", f"--config={config}",
               f"--workdir={workdir}"] + [f"--config.{o}" for o in overrides]
    print(f"[{name}] {' '.join(command[1:])}", file=sys.stderr, flush=True)
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode:
      raise RuntimeError(f"row {name} failed:\n{proc.stderr[-4000:]}")
  result = _final(metrics_file, steps)
  if result is None:
    raise RuntimeError(f"row {name}: no evaluation at step {steps} in {metrics_file}")
  return result, time.time() - start


def _final(metrics_file: str, steps: int):
  if not os.path.exists(metrics_file):
    return None
  with open(metrics_file) as f:
    rows = [json.loads(line) for line in f if line.strip()]
  return next((r for r in rows if r["step"] == steps), None)


def _cell(results: dict, key: str) -> str:
  value = results.get(key)
  return "–" if value is None else f"{value:.2f}" if abs(value) >= 1 else f"{value:.4f}"


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Too many command-line arguments: {argv[1:]}")
  names = _ROWS.value or list(ROWS)
  unknown = sorted(set(names) - set(ROWS))
  if unknown:
    raise app.UsageError(f"--rows: unknown {unknown}; known: {', '.join(ROWS)}")
  results, seconds = {}, {}
  for name in names:
    results[name], seconds[name] = run_row(name, os.path.join(_WORKDIR.value, name))
  print(f"{_MODEL.value} on synthetic scenes, {_STEPS.value} steps each"
        f" (overrides: {' '.join(_SET.value) or 'none'})\n")
  print("| run | " + " | ".join(title for _, title in COLUMNS) + " | minutes |")
  print("|---" * (len(COLUMNS) + 2) + "|")
  for name in names:
    print(f"| {name} | " + " | ".join(_cell(results[name], k) for k, _ in COLUMNS)
          + f" | {seconds[name] / 60:.1f} |")
  fused_rows = [n for n in names if any(k.endswith("@average") for k in results[n])]
  if fused_rows:
    print(f"\nMulti-scale evaluation over scales {SCALES} (HMSA trained on 0.5 and 1):\n")
    kinds = ("single", "average", "attention")
    titles = [f"{title} {kind}" for _, title in FUSED for kind in kinds]
    print("| run | " + " | ".join(titles) + " |")
    print("|---" * (len(titles) + 1) + "|")
    for name in fused_rows:
      cells = [_cell(results[name], key + suffix) for key, _ in FUSED
               for suffix in ("", "@average", "@attention")]
      print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
  app.run(main)
