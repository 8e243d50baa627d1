"""The quick start: hard sharing on synthetic scenes, 13 minutes on 2 CPU cores.

    python -m mtl_jax.main --config=configs/quickstart.py --workdir=/tmp/mtl_jax/quickstart

``configs/synthetic.py`` with a wider, five-stage encoder, widths
(16, 32, 64, 128, 128): its coarsest stage sees whole objects, whose class is
their shape (colours are random); Adam at 3e-3; and 1200 steps of 16 images at
64x96 instead of 750 at 96x128 (more updates in the same time), evaluated
before training and every 400 steps. Measured on 2 CPU cores: 13 minutes,
mIoU 75.8 at step 1200 with every object class above 30 IoU (sphere 84.4,
cone 80.0, box 43.0, cylinder 31.3; README.md), against 44.2 and no object
learned for ``synthetic.py``.
"""

from configs import synthetic


def get_config():
  config = synthetic.get_config()
  config.dataset.height = 64
  config.dataset.width = 96
  config.model.kwargs.widths = (16, 32, 64, 128, 128)
  config.optimizer.learning_rate = 3e-3
  config.schedule.num_steps = 1200
  config.schedule.checkpoint_every = 400
  config.eval.every_steps = 400
  return config
