"""Trains and evaluates a multi-task network from an ml_collections config.

    python -m mtl_jax.main --config=configs/synthetic.py --workdir=/tmp/mtl_jax/synthetic

Rerunning the same command on the same workdir resumes from its last checkpoint.
An invalid config or a missing or wrong data file or directory ends the run with
one message naming the config key, file or directory (exit status 1, no
traceback).
The console shows the progress bar, the evaluations and warnings; pass
``--verbosity=0`` for the libraries' INFO logs too (orbax, tfds, grain).
"""

import sys

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from mtl_jax import data
from mtl_jax import parallel
from mtl_jax import train
from mtl_jax import validation

_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints and metrics.")
_CONFIG = config_flags.DEFINE_config_file("config", None, "Path to a get_config() file.",
                                          lock_config=True)
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Too many command-line arguments: {argv[1:]}")
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # absl's app default is INFO.
  if _CONFIG.value.parallel.distributed:
    parallel.initialize_distributed()
  config_file = flags.FLAGS["config"].config_filename
  try:
    train.train_and_evaluate(_CONFIG.value, _WORKDIR.value)
  except validation.ConfigError as e:
    sys.exit(f"Invalid config {config_file}: {e}")
  except data.DataError as e:
    sys.exit(f"Dataset {_CONFIG.value.dataset.name!r} of config {config_file}: {e}")


if __name__ == "__main__":
  app.run(main)
