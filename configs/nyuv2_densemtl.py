"""DenseMTL in the papers' NYUv2 setting: 288x384, 13 classes, segmentation, depth, normals.

Adam at 1e-4, batch 2, 200 epochs of the 795 training images (79,500 steps),
the learning rate halved after 100 epochs; dilated ResNet-50 encoder.

    python -m mtl_jax.main --config=configs/nyuv2_densemtl.py --workdir=/tmp/mtl_jax/nyuv2_densemtl

Needs the NYUv2 files in the tfds manual directory (``config.dataset.manual_dir``).
"""

from configs import default

STEPS_PER_EPOCH = 795 / 2  # Steps per epoch (795 training images, batch 2).


def get_config():
  config = default.get_config()
  config.dataset.name = "nyuv2"
  config.tasks.names = ("segmentation", "depth", "normals")

  config.model.name = "densemtl"
  config.model.kwargs.encoder = "resnet50_dilated"
  # ResNet-50's four bottleneck stages, finest first (1/4, then 1/8 with dilations
  # 1, 2, 4: output stride 8); the decoders' channels are kept smaller.
  config.model.kwargs.widths = (256, 512, 1024, 2048)
  config.model.kwargs.decoder_widths = (128, 256, 256, 256)
  # Exchange at two stages; pooling keeps each pair's attention at the same
  # size (e.g. 72x96 / 4 = 36x48 / 2 = 18x24 positions).
  config.model.kwargs.stages = (1, 2)
  config.model.kwargs.pool = (4, 2)

  config.input.batch_size = 2
  config.input.eval_batch_size = 2
  config.parallel.num_devices = 1  # A batch of 2 splits over at most 2 devices.
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
