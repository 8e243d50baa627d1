"""Hard parameter sharing on NYUv2: 13-class segmentation, depth and normals, the field's protocol.

The setting of MTAN, CAGrad, Nash-MTL and FAMO: the preprocessed 288x384 release
(795 train, 654 val images), Adam at 1e-4, batch 2, 200 epochs with the rate
halved after epoch 100 (StepLR), random scale-crop (1.0/1.2/1.5, depth divided
by the scale) and horizontal flips, evaluation on the whole val split after
every epoch, Δm against the published single-task results; DIR/final.json
reports the last evaluation and the mean of the last 10, as the papers do.

    python -m mtl_jax.main --config=configs/nyuv2_hps.py --workdir=/tmp/mtl_jax/nyuv2_hps \\
        --config.dataset.manual_dir=/data/nyuv2

Other balancers: ``--config.balancer.name=imtl_g`` (docs/reproducing.md has the
sweep). A short trial: ``--config.schedule.num_epochs=0.05``.

Weights start random, as in MTAN's code and the balancer papers that reuse its
setting (CAGrad, Nash-MTL, FAMO); ``config.model.pretrained`` loads ImageNet
weights into ``model.kwargs.encoder=segnet`` at full width instead (docs/networks.md).
"""

from configs import default


def get_config():
  config = default.get_config()
  config.dataset.name = "nyuv2"
  config.dataset.height, config.dataset.width = 288, 384

  config.input.batch_size = 2
  config.input.eval_batch_size = 8
  config.input.augment = True
  config.input.scales = (1.0, 1.2, 1.5)
  config.input.flip = True

  config.model.name = "hps"
  # A SegNet-sized encoder (VGG-16's stage widths); a U-Net decoder per task.
  config.model.kwargs.widths = (64, 128, 256, 512, 512)

  config.tasks.names = ("segmentation", "depth", "normals")
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
