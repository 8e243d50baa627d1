"""The authors' conventions against ours, at one budget on synthetic scenes: a Markdown table.

    python -m benchmarks.variants_table --steps=150 --workdir=/tmp/mtl_jax/variants

Trains, through ``python -m mtl_jax.main``, one run per row with the same
steps, data and seed, and prints the final evaluation of each:

* MTRAN (``configs/synthetic_mtran.py``, balancing the shared feature's
  gradients) with IMTL-G, IMTL-RWL (its Dirichlet loss weights on the
  task-specific parameters, MTRAN's Algorithm 1), IMTL-RWL with the heads'
  raw gradients (the earlier convention, under which it was IMTL-G with a
  random step size), and IMTL (its learned loss scales on the heads);
* MTRAN with CBAM as the paper's equation (``cbam="paper"``) against the
  authors' code (the IMTL-RWL row);
* DenseMTL (``configs/synthetic_densemtl.py``) with the official code's
  exchange blocks and with ours (``variant="mtl_jax"``).

``--set key=value`` (repeatable) passes ``--config.key=value`` to every run. A
row whose workdir already holds its final evaluation is read, not rerun.
"""

import os

from absl import app
from absl import flags

from benchmarks import table_runs

_STEPS = flags.DEFINE_integer("steps", 150, "Training steps of every row.")
_WORKDIR = flags.DEFINE_string("workdir", "/tmp/mtl_jax/variants", "One subdirectory per row.")
_ROWS = flags.DEFINE_list("rows", None, "Rows to run (default: all).")
_SET = flags.DEFINE_multi_string("set", [], "key=value, passed as --config.key=value to every run.")

MTRAN, DENSEMTL = "configs/synthetic_mtran.py", "configs/synthetic_densemtl.py"
ROWS = {
    "mtran_imtl_g": (MTRAN, ["balancer.name=imtl_g"]),
    "mtran_imtl_rwl": (MTRAN, ["balancer.name=imtl_rwl"]),
    "mtran_imtl_rwl_own_heads": (MTRAN, ["balancer.name=imtl_rwl",
                                         "balancer.kwargs.heads=own"]),
    "mtran_imtl": (MTRAN, ["balancer.name=imtl"]),
    "mtran_imtl_rwl_cbam_paper": (MTRAN, ["balancer.name=imtl_rwl",
                                          "model.kwargs.cbam=paper"]),
    "densemtl_official": (DENSEMTL, []),
    "densemtl_mtl_jax": (DENSEMTL, ["model.kwargs.variant=mtl_jax"]),
}
COLUMNS = [("segmentation/miou", "mIoU ↑"), ("segmentation/pixel_acc", "pix acc ↑"),
           ("depth/abs_err", "depth abs ↓"), ("depth/rel_err", "depth rel ↓"),
           ("normals/mean_angle", "normals mean ° ↓"), ("normals/within_11.25", "11.25° ↑")]


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Too many command-line arguments: {argv[1:]}")
  names = _ROWS.value or list(ROWS)
  unknown = sorted(set(names) - set(ROWS))
  if unknown:
    raise app.UsageError(f"--rows: unknown {unknown}; known: {', '.join(ROWS)}")
  results, seconds = {}, {}
  for name in names:
    config, overrides = ROWS[name]
    overrides = overrides + table_runs.budget(_STEPS.value) + list(_SET.value)
    results[name], seconds[name] = table_runs.run(
        name, config, overrides, os.path.join(_WORKDIR.value, name), _STEPS.value)
  print(f"Synthetic scenes, {_STEPS.value} steps each (overrides: "
        f"{' '.join(_SET.value) or 'none'})\n")
  print("| run | " + " | ".join(title for _, title in COLUMNS) + " | minutes |")
  print("|---" * (len(COLUMNS) + 2) + "|")
  for name in names:
    print(f"| {name} | " + " | ".join(table_runs.cell(results[name], k) for k, _ in COLUMNS)
          + f" | {seconds[name] / 60:.1f} |")


if __name__ == "__main__":
  app.run(main)
