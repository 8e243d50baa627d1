"""Hard-parameter sharing on synthetic scenes: segmentation, depth and normals.

The default job: about 10 minutes on 2 CPU cores.

    python -m mtl_jax.main --config=configs/synthetic.py --workdir=/tmp/mtl_jax/synthetic

Overrides work as usual, e.g. ``--config.schedule.num_steps=200``.
"""

from configs import default


def get_config():
  config = default.get_config()
  config.eval.at_start = True  # metrics.jsonl starts with the untrained network.
  return config
