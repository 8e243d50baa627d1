"""Hard parameter sharing on Cityscapes: 7-class segmentation and depth, the field's protocol.

The setting of MTAN, CAGrad, Nash-MTL and FAMO: the preprocessed 128x256
release (2975 train, 500 val images; 7 categories; its depth is MTAN's inverse
depth), Adam at 1e-4, batch 8, 200 epochs with the rate halved after epoch 100
(StepLR), random scale-crop and flips (as the Nash-MTL and FAMO code applies
them to Cityscapes too), evaluation on the whole val split after every epoch,
Δm against the published single-task results; DIR/final.json reports the last
evaluation and the mean of the last 10, as the papers do.

    python -m mtl_jax.main --config=configs/cityscapes_hps.py \\
        --workdir=/tmp/mtl_jax/cityscapes_hps --config.dataset.manual_dir=/data/cityscapes

19 classes: ``--config.dataset.num_classes=19`` (no published single-task
numbers: no Δm unless ``config.eval.single_task_baselines`` names files). The
official release: ``--config.dataset.source=official`` (depth in metres).

Weights start random, as in MTAN's code and the balancer papers that reuse its
setting (CAGrad, Nash-MTL, FAMO); ``config.model.pretrained`` loads ImageNet
weights into ``model.kwargs.encoder=segnet`` at full width instead (docs/networks.md).
"""

from configs import default


def get_config():
  config = default.get_config()
  config.dataset.name = "cityscapes"
  config.dataset.source = "preprocessed"
  config.dataset.num_classes = 7
  config.dataset.height, config.dataset.width = 128, 256

  config.input.batch_size = 8
  config.input.eval_batch_size = 8
  config.input.augment = True
  config.input.scales = (1.0, 1.2, 1.5)
  config.input.flip = True

  config.model.name = "hps"
  # A SegNet-sized encoder (VGG-16's stage widths); a U-Net decoder per task.
  config.model.kwargs.widths = (64, 128, 256, 512, 512)

  config.tasks.names = ("segmentation", "depth")
  config.balancer.name = "ew"  # Equal weights (the tables' "LS").

  config.optimizer.name = "adam"
  config.optimizer.learning_rate = 1e-4
  config.schedule.decay = "step"
  config.schedule.warmup_steps = 0
  config.schedule.num_epochs = 200
  config.schedule.step_every_epochs = 100
  config.schedule.step_factor = 0.5
  config.schedule.log_every = 100
  config.schedule.checkpoint_every = 2000

  config.eval.every_epochs = 1
  config.eval.max_batches = 0  # The whole val split.
  config.eval.single_task_baselines = "published"
  config.eval.summary_window = 10
  return config
