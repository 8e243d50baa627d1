"""Hard-parameter sharing on synthetic scenes: segmentation, depth and normals.

The default job the benchmarks and the other synthetic configs start from: 750
steps of 16 images (six epochs of the 2000 training scenes), evaluated on the
400 test scenes before training and every 250 steps; 11 minutes on 2 CPU cores
(measured: mIoU 44.25, the objects not yet learned). The README's quick start,
``configs/quickstart.py``, widens its encoder and raises its learning rate.

    python -m mtl_jax.main --config=configs/synthetic.py --workdir=/tmp/mtl_jax/synthetic

Overrides work as usual, e.g. ``--config.schedule.num_steps=200``.
"""

from configs import default


def get_config():
  config = default.get_config()
  config.schedule.num_steps = 750
  config.schedule.checkpoint_every = 250
  config.eval.every_steps = 250
  config.eval.at_start = True  # metrics.jsonl starts with the untrained network.
  return config
