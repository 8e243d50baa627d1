"""SemBoost in the papers' Cityscapes setting: 128x256, 7 classes, depth and segmentation.

Adam at 1e-4, batch 8, 200 epochs of the 2975 training images (74,375 steps),
the learning rate halved after 100 epochs; dilated ResNet-50 encoder.

    python -m mtl_jax.main --config=configs/cityscapes_semboost.py \
        --workdir=/tmp/mtl_jax/cityscapes_semboost

Needs the Cityscapes files in the tfds manual directory (``config.dataset.manual_dir``).
"""

from configs import default

STEPS_PER_EPOCH = 2975 / 8  # Steps per epoch (2975 training images, batch 8).


def get_config():
  config = default.get_config()
  config.dataset.name = "cityscapes"
  config.tasks.names = ("segmentation", "depth")

  config.model.name = "semboost"
  config.model.kwargs.encoder = "resnet50_dilated"
  # ResNet-50's four bottleneck stages, finest first (1/4, then 1/8: output stride 8).
  config.model.kwargs.widths = (256, 512, 1024, 2048)
  config.model.kwargs.decoder_width = 128

  config.input.batch_size = 8
  config.input.eval_batch_size = 8
  config.optimizer.name = "adam"
  config.optimizer.learning_rate = 1e-4
  config.schedule.num_steps = round(200 * STEPS_PER_EPOCH)
  config.schedule.warmup_steps = 0
  config.schedule.decay = "step"
  config.schedule.step_every = round(100 * STEPS_PER_EPOCH)
  config.schedule.step_factor = 0.5
  config.schedule.log_every = 100
  config.schedule.checkpoint_every = round(10 * STEPS_PER_EPOCH)
  config.eval.every_steps = round(10 * STEPS_PER_EPOCH)
  return config
