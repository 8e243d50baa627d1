"""MTRAN on synthetic scenes with Self-Regulation on its segmentation task.

    python -m mtl_jax.main --config=configs/synthetic_mtran_self_regulation.py \
        --workdir=/tmp/mtl_jax/synthetic_mtran_self_regulation

Zhang et al., ICCV 2021: in training, a segmentation exit and an image-level
classifier on every block of the shared encoder (the MEA loss), the shallowest
block's features teaching the deeper blocks' (SR-F) and the network's own
segmentation output teaching the exits (SR-L), λ = (0.2, 0.8, 1) as the paper;
the first 10% of the steps train with MEA only. Inference runs the plain
network. See docs/losses.md.
"""

from configs import synthetic


def get_config():
  config = synthetic.get_config()
  config.model.name = "mtran"
  config.model.wrapper = "self_regulation"
  config.model.wrapper_kwargs.exit_width = 16
  config.tasks.segmentation.sr_lambdas = (0.2, 0.8, 1.0)
  config.tasks.segmentation.sr_temperature = 1.0
  # 10% of the steps, also when --config.schedule.num_steps changes them.
  config.tasks.segmentation.sr_warmup_steps = config.schedule.get_ref("num_steps") // 10
  return config
