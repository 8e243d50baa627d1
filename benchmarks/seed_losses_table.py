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

import os

from absl import app
from absl import flags

from benchmarks import table_runs

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
  overrides = overrides + [f"model.name={_MODEL.value}"] + table_runs.budget(_STEPS.value) + list(
      _SET.value)
  return table_runs.run(name, config, overrides, workdir, _STEPS.value)


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
    print(f"| {name} | " + " | ".join(table_runs.cell(results[name], k) for k, _ in COLUMNS)
          + f" | {seconds[name] / 60:.1f} |")
  fused_rows = [n for n in names if any(k.endswith("@average") for k in results[n])]
  if fused_rows:
    print(f"\nMulti-scale evaluation over scales {SCALES} (HMSA trained on 0.5 and 1):\n")
    kinds = ("single", "average", "attention")
    titles = [f"{title} {kind}" for _, title in FUSED for kind in kinds]
    print("| run | " + " | ".join(titles) + " |")
    print("|---" * (len(titles) + 1) + "|")
    for name in fused_rows:
      cells = [table_runs.cell(results[name], key + suffix) for key, _ in FUSED
               for suffix in ("", "@average", "@attention")]
      print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
  app.run(main)
