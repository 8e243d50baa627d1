"""MTAN (Liu et al., CVPR 2019) on SegNet, on Cityscapes in Ji et al.'s setting.

    python -m mtl_jax.main --config=configs/cityscapes_mtan.py \
        --workdir=/tmp/mtl_jax/cityscapes_mtan

Ji et al.'s training setup: 128x256 images, 7 classes,
segmentation and depth, Adam with learning rate 1e-4, batch 8, 200 epochs
(2975 training images: 74375 steps) with the learning rate halved after 100.
Needs the Cityscapes dataset (``config.dataset.manual_dir``: see mtl_jax/data/cityscapes.py).
"""

from configs import default


def get_config():
  config = default.get_config()
  config.dataset.name = "cityscapes"
  config.dataset.height = 128
  config.dataset.width = 256
  # The 7-class labels (Ji et al.'s Cityscapes tables; MTAN's preprocessed release).
  config.dataset.num_classes = 7
  config.tasks.names = ("segmentation", "depth")

  config.model.name = "mtan"
  config.model.kwargs.encoder = "segnet"
  config.model.kwargs.widths = (64, 128, 256, 512, 512)  # VGG-16's five blocks.

  config.input.batch_size = 8
  config.input.eval_batch_size = 8

  config.optimizer.name = "adam"
  config.optimizer.learning_rate = 1e-4
  config.schedule.num_steps = 74375  # 200 epochs.
  config.schedule.warmup_steps = 0
  config.schedule.decay = "step"
  config.schedule.step_every = 37187  # Halved after 100 epochs.
  config.schedule.step_factor = 0.5
  config.schedule.checkpoint_every = 3718
  config.eval.every_steps = 3718  # Every 10 epochs.
  config.eval.at_start = True
  return config
