"""Bad configs fail at start-up with a message naming the key."""

import subprocess
import sys

import pytest

from configs import tiny
from mtl_jax import data
from mtl_jax import validation


@pytest.fixture
def config():
  return tiny.get_config()


@pytest.mark.parametrize("key,value,message", [
    ("model.name", "resnet9000", r"config\.model\.name: unknown value 'resnet9000'; known: .*hps"),
    ("balancer.name", "magic", r"config\.balancer\.name: unknown value 'magic'; known: .*ew"),
    ("balancer.level", "pixels", r"config\.balancer\.level: unknown value 'pixels'"),
    ("dataset.name", "imagenet", r"config\.dataset\.name: unknown value 'imagenet'"),
    ("optimizer.name", "lbfgs3", r"config\.optimizer\.name: unknown value 'lbfgs3'"),
    ("schedule.decay", "zigzag", r"config\.schedule\.decay: unknown value 'zigzag'"),
    ("parallel.mode", "mpi", r"config\.parallel\.mode: unknown value 'mpi'"),
    ("schedule.num_steps", 0, r"config\.schedule\.num_steps: must be a positive integer"),
    ("optimizer.learning_rate", -1.0, r"config\.optimizer\.learning_rate: must be > 0"),
    ("input.batch_size", 12, r"config\.input\.batch_size: 12 does not split over 8 devices"),
    ("input.scales", (1.0, 0.8), r"config\.input\.scales: .* each >= 1 .*got \(1\.0, 0\.8\)"),
    ("input.read_threads", -1, r"config\.input\.read_threads: must be an integer >= 0"),
    ("input.read_buffer_size", 0, r"config\.input\.read_buffer_size: must be a positive"),
])
def test_bad_value_names_its_key(config, key, value, message):
  section, field = key.split(".")
  config[section][field] = value
  with pytest.raises(validation.ConfigError, match=message):
    validation.validate(config)


def test_unknown_task(config):
  config.tasks.names = ("segmentation", "edges")
  with pytest.raises(validation.ConfigError, match=r"config\.tasks\.names: unknown value 'edges'"):
    validation.validate(config)


def test_task_the_dataset_lacks(config, monkeypatch):
  no_normals = data.Dataset(
      info=lambda cfg: data.DatasetInfo(("segmentation", "depth"), 3, ("a", "b", "c"), (16, 24, 3)),
      builder=None)
  monkeypatch.setitem(data.REGISTRY, "no_normals", no_normals)
  config.dataset.name = "no_normals"
  with pytest.raises(validation.ConfigError,
                     match=r"config\.tasks\.names: task 'normals' is not in dataset 'no_normals'"):
    validation.validate(config)


def test_unknown_model_option(config):
  config.model.kwargs.depth_multiplier = 2
  with pytest.raises(validation.ConfigError,
                     match=r"config\.model\.kwargs\.depth_multiplier: not an option"):
    validation.validate(config)


def test_reserved_balancer_option(config):
  config.balancer.kwargs.num_tasks = 5
  with pytest.raises(validation.ConfigError, match=r"config\.balancer\.kwargs\.num_tasks"):
    validation.validate(config)


def test_image_size_the_network_cannot_take(config):
  from mtl_jax import train  # pylint: disable=g-import-not-at-top
  config.model.kwargs.widths = (4, 8, 8, 8)
  tasks, model, _, _ = train.build(config)
  channels = {t.name: t.channels for t in tasks}
  validation.check_shapes(model, (18, 26, 3), channels)  # Odd sizes are fine.
  with pytest.raises(validation.ConfigError, match=r"config\.model: .* images of shape \(4, 4, 3\)"):
    validation.check_shapes(model, (4, 4, 3), channels)


def test_valid_configs_pass(config):
  validation.validate(config)


def test_cli_reports_a_bad_key_without_a_traceback(tmp_path):
  proc = subprocess.run(
      [sys.executable, "-m", "mtl_jax.main", "--config=configs/tiny.py",
       f"--workdir={tmp_path}", "--config.balancer.name=nope"],
      capture_output=True, text=True, timeout=300, check=False)
  assert proc.returncode != 0
  assert "config.balancer.name: unknown value 'nope'" in proc.stderr
  assert "Traceback" not in proc.stderr
