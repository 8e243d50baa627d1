"""Single-task networks (the baselines of Δm) on NYUv2 in Ji et al.'s setting.

    python -m mtl_jax.main --config=configs/nyuv2_single_task.py \
        --workdir=/tmp/mtl_jax/nyuv2_single_task

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

  config.model.name = "single_task"
  # Each task's network: MTRAN's encoder (four VGG-16 blocks) and a U-Net decoder.
  config.model.kwargs.encoder = "segnet"
  config.model.kwargs.widths = (64, 128, 256, 512)

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
