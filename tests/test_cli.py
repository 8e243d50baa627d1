"""The command line: overrides of every component's options, one-line errors with exit status 2."""

import os
import subprocess
import sys

import pytest

from mtl_jax import build
from mtl_jax import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("args, key, value", [
    (["--config.balancer.name=cagrad", "--config.balancer.kwargs.c=0.4"],
     "balancer.kwargs.c", 0.4),
    (["--config.balancer.name=dwa", "--config.balancer.kwargs.steps_per_period=398"],
     "balancer.kwargs.steps_per_period", 398),
    (["--config.balancer.name=aligned_mtl", "--config.balancer.kwargs.pref=(1.0, 1.0, 1.0)"],
     "balancer.kwargs.pref", (1.0, 1.0, 1.0)),
    (["--config.model.kwargs.encoder=segnet"], "model.kwargs.encoder", "segnet"),
    (["--config.model.name=mtran", "--config.model.kwargs.attention=False"],
     "model.kwargs.attention", False),
    (["--config.model.wrapper=hmsa", "--config.model.wrapper_kwargs.train_scale=0.25"],
     "model.wrapper_kwargs.train_scale", 0.25),
    (["--config.tasks.depth.loss=attention"], "tasks.depth.loss", "attention"),
    (["--config.model.kwargs.widths=(4, 8)"], "model.kwargs.widths", (4, 8)),
])
def test_every_components_options_can_be_set(args, key, value):
  config, workdir = cli.load(["--config=configs/tiny.py", "--workdir=/tmp/w", *args])
  node = config
  for part in key.split("."):
    node = node[part]
  assert node == value and type(node) is type(value) and workdir == "/tmp/w"
  build.experiment(config, with_data=False)  # And the run gets as far as the data.


@pytest.mark.parametrize("args, message", [
    (["--config.balancer.nmae=pcgrad"], "config.balancer.nmae: unknown key; did you mean 'name'?"),
    (["--config.schedul.num_steps=10"],
     "config.schedul: unknown key; did you mean 'schedule'?"),
    (["--config.input.batch_size=abc"],
     "config.input.batch_size: invalid value 'abc' (invalid literal for int() with base 10:"
     " 'abc')"),
    (["--config.seed.x=1"], "config.seed.x: unknown key; config.seed is a value, not a section"),
    (["--wrkdir=x"], "Unknown command line flag 'wrkdir'. Did you mean: workdir ?"),
])
def test_command_line_errors_are_one_line(args, message):
  with pytest.raises(cli.CommandLineError) as raised:
    cli.load(["--config=configs/tiny.py", "--workdir=/tmp/w", *args])
  assert str(raised.value) == message


def test_a_config_file_that_does_not_load_is_named():
  with pytest.raises(cli.CommandLineError, match=r"^--config: cannot load 'configs/nope\.py'"):
    cli.load(["--config=configs/nope.py", "--workdir=/tmp/w"])


def test_option_of_another_component_is_named_at_start_up():
  config, _ = cli.load(["--config=configs/tiny.py", "--workdir=/tmp/w",
                        "--config.balancer.name=pcgrad", "--config.balancer.kwargs.c=0.4"])
  with pytest.raises(build.ConfigError,
                     match=r"^config\.balancer\.kwargs\.c: not an option of balancer 'pcgrad';"
                           r" options: heads, reduction, seed$"):
    build.experiment(config, with_data=False)


@pytest.mark.parametrize("override, line", [
    ("--config.balancer.nmae=pcgrad", "config.balancer.nmae: unknown key; did you mean 'name'?"),
    ("--config.balancer.kwargs.c=0.4",
     "Invalid config configs/tiny.py: config.balancer.kwargs.c: not an option of balancer 'ew';"
     " options: weight"),
    # Multi-host keys are checked before jax.distributed.initialize sees them.
    ("--config.parallel.distributed=True --config.parallel.num_processes=2"
     " --config.parallel.process_id=2",
     "Invalid config configs/tiny.py: config.parallel.process_id: 2 is not in [0, 2)"
     " (config.parallel.num_processes)"),
    ("--config.parallel.distributed=True --config.parallel.coordinator_address=localhost",
     "Invalid config configs/tiny.py: config.parallel.coordinator_address: 'localhost' is not"
     " host:port (e.g. 127.0.0.1:1234)"),
    ("--config.parallel.num_processes=2",
     "Invalid config configs/tiny.py: config.parallel.num_processes: set, but"
     " config.parallel.distributed is False; add --config.parallel.distributed=True"),
])
def test_main_prints_one_line_and_exits_2(tmp_path, override, line):
  proc = subprocess.run(
      [sys.executable, "-m", "mtl_jax.main", "--config=configs/tiny.py",
       f"--workdir={tmp_path}", *override.split()],
      capture_output=True, text=True, timeout=300, check=False, cwd=ROOT)
  assert proc.returncode == 2, proc.stderr
  assert proc.stderr.strip().splitlines() == [line], proc.stderr
  assert not os.listdir(tmp_path)
