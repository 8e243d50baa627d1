"""DenseMTL in the papers' Cityscapes setting: 128x256, 7 classes, segmentation and depth.

Adam at 1e-4, batch 8, 200 epochs of the 2975 training images (74,375 steps),
the learning rate halved after 100 epochs; dilated ResNet-50 encoder.

    python -m mtl_jax.main --config=configs/cityscapes_densemtl.py \
        --workdir=/tmp/mtl_jax/cityscapes_densemtl

Needs the Cityscapes files in the tfds manual directory (``config.dataset.manual_dir``).
"""

from configs import default

STEPS_PER_EPOCH = 2975 / 8  # Steps per epoch (2975 training images, batch 8).


def get_config():
  config = default.get_config()
  config.dataset.name = "cityscapes"
  config.tasks.names = ("segmentation", "depth")

  config.model.name = "densemtl"
  config.model.kwargs.encoder = "resnet50_dilated"
  # ResNet-50's four bottleneck stages, finest first (1/4, then 1/8 with dilations
  # 1, 2, 4: output stride 8); the decoders' channels are kept smaller.
  config.model.kwargs.widths = (256, 512, 1024, 2048)
  config.model.kwargs.decoder_widths = (128, 256, 256, 256)
  # Exchange at two stages; pooling keeps each pair's attention at the same
  # size (e.g. 32x64 / 2 = 16x32 / 1 positions).
  config.model.kwargs.stages = (1, 2)
  config.model.kwargs.pool = (2, 1)

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
