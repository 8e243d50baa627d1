"""A seconds-long run on a tiny synthetic set, for tests and smoke checks.

    python -m mtl_jax.main --config=configs/tiny.py --workdir=/tmp/mtl_jax/tiny
"""

from configs import default


def get_config():
  config = default.get_config()
  config.dataset.height = 16
  config.dataset.width = 24
  config.dataset.num_train = 32
  config.dataset.num_test = 12
  config.input.batch_size = 8
  config.input.eval_batch_size = 8
  config.input.worker_count = 0
  config.model.kwargs.widths = (4, 8)
  config.schedule.num_steps = 6
  config.schedule.warmup_steps = 0
  config.schedule.log_every = 2
  config.schedule.checkpoint_every = 2
  config.eval.every_steps = 3
  config.eval.num_images = 0
  return config
