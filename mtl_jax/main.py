"""Trains and evaluates a multi-task network from an ml_collections config.

    python -m mtl_jax.main --config=configs/synthetic.py --workdir=/tmp/mtl_jax/synthetic

Rerunning the same command on the same workdir resumes from its last checkpoint.
Every field of the config can be overridden, ``--config.schedule.num_steps=200``,
and every option of the chosen network, wrapper, balancer or task set,
``--config.balancer.kwargs.c=0.4`` (``mtl_jax.cli``). Errors end the run with one
line and no traceback: a misspelled key, a value that does not parse or an
invalid config value names the key (exit status 2); a missing or wrong data
file or directory names it (exit status 1). SIGTERM or Ctrl-C finishes the step,
checkpoints and stops with one line and the signal's conventional status (143
for SIGTERM, 130 for Ctrl-C); rerunning a finished run says it is complete. A
workdir another run holds (``<workdir>/run.lock``) ends the run in one line naming
that run; a diverging run, a full disk and a workdir whose checkpoints all fail
to restore each stop with one line naming the step or file and the checkpoint
to resume from (exit status 1). The console shows the
progress bar, the evaluations and warnings; pass ``--verbosity=0`` for the
libraries' INFO logs too (orbax, tfds, grain).
"""

import sys

from absl import app
from absl import flags
from absl import logging

from mtl_jax import checkpoint
from mtl_jax import cli
from mtl_jax import data
from mtl_jax import parallel
from mtl_jax import preemption
from mtl_jax import schema
from mtl_jax import train
from mtl_jax.models import pretrained
from mtl_jax import workdir_lock

_CONFIG, _WORKDIR = cli.define()


def main(argv):
  if len(argv) > 1:
    sys.stderr.write(f"unexpected arguments: {' '.join(argv[1:])}\n")
    sys.exit(cli.USAGE_ERROR)
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # absl's app default is INFO.
    checkpoint.quiet_orbax_errors()  # Their failures are reported in one line below.
  config = _CONFIG.value
  config_file = flags.FLAGS["config"].config_filename
  try:
    if config.parallel.distributed:
      schema.check_ranges(config)  # What initialize is given is checked first.
      schema.check_distributed(config)
      parallel.initialize_distributed(config.parallel.coordinator_address,
                                      config.parallel.num_processes, config.parallel.process_id)
    train.train_and_evaluate(config, _WORKDIR.value)
  except schema.ConfigError as e:
    sys.stderr.write(f"Invalid config {config_file}: {e}\n")
    sys.exit(cli.USAGE_ERROR)
  except data.DataError as e:
    sys.exit(f"Dataset {config.dataset.name!r} of config {config_file}: {e}")
  except pretrained.PretrainedError as e:
    sys.exit(f"Pretrained weights of config {config_file}: {e}")
  except (workdir_lock.WorkdirBusy, checkpoint.CheckpointError, train.OutOfSpace,
          FloatingPointError) as e:
    sys.exit(str(e))
  except preemption.Stopped as e:
    sys.stderr.write(f"{e}\n")
    sys.exit(e.exit_status)


if __name__ == "__main__":
  app.run(main, flags_parser=cli.flags_parser)
