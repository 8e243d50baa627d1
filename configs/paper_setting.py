"""Ji et al.'s training setting, shared by the NYUv2 and Cityscapes reproduction configs.

MTRAN (Ji et al., Sensors 2023) and the networks compared with it are trained
alike on both datasets: segmentation and depth, Adam at 1e-4, 200 epochs with
the learning rate halved after 100, evaluation (and a checkpoint) every 10
epochs and before training. NYUv2: 288x384, 13 classes, 795 training images,
batch 2 on one device (as the paper's one GPU). Cityscapes: 128x256, MTAN's
7-class release, 2975 training images, batch 8. The schedule is set in epochs
and converted at start-up by ``mtl_jax.epochs`` (the library's one convention:
``ceil(examples / batch)`` steps per epoch, 398 on NYUv2, so 200 epochs are
79,600 steps, and 372 on Cityscapes).

A config starts from it and adds its network:

    config = paper_setting.apply(default.get_config(), "nyuv2")
    config.model.name = "mtran"

(``configs/{nyuv2,cityscapes}_hps.py`` follow the epoch-based protocol of
``mtl_jax.protocol`` instead: augmentation, evaluation every epoch.)
"""

from typing import NamedTuple

import ml_collections


class Dataset(NamedTuple):
  height: int
  width: int
  num_classes: int
  batch: int
  num_devices: int | None  # None: every local device.


DATASETS = {
    "nyuv2": Dataset(height=288, width=384, num_classes=13, batch=2, num_devices=1),
    "cityscapes": Dataset(height=128, width=256, num_classes=7, batch=8, num_devices=None),
}
EPOCHS, HALVE_AFTER, EVAL_EVERY = 200, 100, 10  # In epochs.


def apply(config: ml_collections.ConfigDict, dataset: str) -> ml_collections.ConfigDict:
  """Sets ``dataset``'s data, tasks, batch, optimizer, schedule and evaluation in ``config``.

  Args:
    config: a config (``configs/default.py``'s), changed in place.
    dataset: ``"nyuv2"`` or ``"cityscapes"``.

  Returns:
    ``config``.

  Raises:
    ValueError: an unknown dataset.
  """
  if dataset not in DATASETS:
    raise ValueError(f"paper_setting: dataset must be one of {sorted(DATASETS)}, got {dataset!r}.")
  d = DATASETS[dataset]
  config.dataset.name = dataset
  config.dataset.height, config.dataset.width = d.height, d.width
  if dataset == "cityscapes":
    config.dataset.num_classes = d.num_classes
  config.tasks.names = ("segmentation", "depth")

  config.input.batch_size = config.input.eval_batch_size = d.batch
  config.parallel.num_devices = d.num_devices

  config.optimizer.name = "adam"
  config.optimizer.learning_rate = 1e-4
  config.schedule.num_epochs = float(EPOCHS)
  config.schedule.warmup_steps = 0
  config.schedule.decay = "step"
  config.schedule.step_every_epochs = float(HALVE_AFTER)
  config.schedule.step_factor = 0.5
  config.schedule.log_every = 100
  config.schedule.checkpoint_every_epochs = float(EVAL_EVERY)
  config.eval.every_epochs = float(EVAL_EVERY)
  config.eval.at_start = True
  return config
