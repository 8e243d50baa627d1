"""MTRAN (Ji et al., Sensors 2023) with IMTL-RWL on NYUv2, in the paper's setting.

    python -m mtl_jax.main --config=configs/nyuv2_mtran.py \
        --workdir=/tmp/mtl_jax/nyuv2_mtran

Ji et al.'s training setup: 288x384 images, 13 classes,
segmentation and depth, Adam with learning rate 1e-4, batch 2, 200 epochs
(795 training images: 79500 steps) with the learning rate halved after 100.
Needs the NYUv2 dataset (``config.dataset.manual_dir``: see mtl_jax/data/nyuv2.py).
"""

from configs import default


def get_config():
  config = default.get_config()
  config.dataset.name = "nyuv2"
  config.dataset.height = 288
  config.dataset.width = 384
  config.tasks.names = ("segmentation", "depth")

  config.model.name = "mtran"
  # The first four VGG-16 blocks (see mtl_jax/models/mtran.py for the layer choices).
  config.model.kwargs.encoder = "segnet"
  config.model.kwargs.widths = (64, 128, 256, 512)
  config.model.kwargs.attention = True  # False: the paper's "without attention".
  config.model.kwargs.residual = True  # False: its "remove residuals".
  config.balancer.name = "imtl_rwl"  # Algorithm 1, on the shared feature's gradients.
  config.balancer.level = "features"

  config.input.batch_size = 2
  config.input.eval_batch_size = 2
  # A global batch of 2 splits over at most two devices; the paper used one GPU.
  config.parallel.num_devices = 1

  config.optimizer.name = "adam"
  config.optimizer.learning_rate = 1e-4
  config.schedule.num_steps = 79500  # 200 epochs.
  config.schedule.warmup_steps = 0
  config.schedule.decay = "step"
  config.schedule.step_every = 39750  # Halved after 100 epochs.
  config.schedule.step_factor = 0.5
  config.schedule.checkpoint_every = 3975
  config.eval.every_steps = 3975  # Every 10 epochs.
  config.eval.at_start = True
  return config
