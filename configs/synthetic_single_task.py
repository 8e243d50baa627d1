"""Single-task networks on synthetic scenes: the baselines of Δm, trained in one run.

    python -m mtl_jax.main --config=configs/synthetic_single_task.py \
        --workdir=/tmp/mtl_jax/synthetic_single_task

One independent ``hps`` network (conv encoder of widths 8..64, U-Net decoder)
per task; every parameter gets its own task's gradient.
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model.name = "single_task"
  config.model.kwargs.encoder = "conv"
  config.eval.at_start = True
  return config
