"""MTAN on synthetic scenes.

    python -m mtl_jax.main --config=configs/synthetic_mtan.py --workdir=/tmp/mtl_jax/synthetic_mtan

The shared network is SegNet-like, built on the conv encoder of
``synthetic_hps`` (widths 8..64, two conv layers per stage) with a decoder
mirroring it (two per level; ``model.kwargs.decoder_depths``); per task,
attention masks over every encoder stage and decoder level. Equal weights.
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model.name = "mtan"
  config.model.kwargs.encoder = "conv"
  config.eval.at_start = True
  return config
