"""Cross-stitch networks on synthetic scenes.

    python -m mtl_jax.main --config=configs/synthetic_cross_stitch.py \
        --workdir=/tmp/mtl_jax/synthetic_cross_stitch

One conv encoder column per task (widths 8..64, as ``synthetic_hps``), a
cross-stitch unit after every stage, a U-Net decoder per task. Equal weights.
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model.name = "cross_stitch"
  config.model.kwargs.encoder = "conv"
  config.eval.at_start = True
  return config
