"""Hard parameter sharing on synthetic scenes (the default job; ``configs/synthetic.py``).

    python -m mtl_jax.main --config=configs/synthetic_hps.py --workdir=/tmp/mtl_jax/synthetic_hps

Shared conv encoder (widths 8..64), one U-Net decoder per task, equal weights.
"""

from configs import default


def get_config():
  config = default.get_config()
  config.eval.at_start = True  # metrics.jsonl starts with the untrained network.
  return config
