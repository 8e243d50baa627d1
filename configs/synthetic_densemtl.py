"""DenseMTL on synthetic scenes: segmentation, depth and normals exchange features.

Every ordered task pair exchanges at decoder stage 1 (half resolution), with
queries, keys and values pooled by 2 for the cross-task attention.

    python -m mtl_jax.main --config=configs/synthetic_densemtl.py \
        --workdir=/tmp/mtl_jax/synthetic_densemtl

Overrides as usual, e.g. ``--config.model.kwargs.stages='(1, 2)'`` or
``--config.model.kwargs.cross_attention=False`` (the self-attention-only ablation).
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model.name = "densemtl"
  config.model.kwargs.stages = (1,)
  config.model.kwargs.pool = 2
  config.model.kwargs.self_attention = True
  config.model.kwargs.cross_attention = True
  config.eval.at_start = True  # metrics.jsonl starts with the untrained network.
  return config
