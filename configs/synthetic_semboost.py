"""SemBoost on synthetic scenes: depth and segmentation decoders joined by lateral
sharing units, with semi-dense up-skip connections; normals get a plain decoder.

    python -m mtl_jax.main --config=configs/synthetic_semboost.py \
        --workdir=/tmp/mtl_jax/synthetic_semboost

Ablations: ``--config.model.kwargs.lateral=False`` (no LSU),
``--config.model.kwargs.up_skip=False`` (no semi-dense up-skips).
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model.name = "semboost"
  config.model.kwargs.decoder_width = 16
  config.model.kwargs.lateral = True
  config.model.kwargs.up_skip = True
  config.eval.at_start = True  # metrics.jsonl starts with the untrained network.
  return config
