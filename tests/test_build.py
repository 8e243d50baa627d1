"""Bad configs fail at start-up with a message naming the key."""

import subprocess
import sys

import ml_collections
import pytest

from configs import tiny
from mtl_jax import build
from mtl_jax import data
from mtl_jax import schema


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
    # Values that used to be accepted and ruin a run quietly, or fail deep inside it.
    ("optimizer.grad_clip_norm", -1.0, r"config\.optimizer\.grad_clip_norm: must be a finite"
     r" number >= 0\.0, got -1\.0"),
    ("eval.max_batches", -1, r"config\.eval\.max_batches: must be an integer >= 0, got -1"),
    ("schedule.warmup_steps", -5, r"config\.schedule\.warmup_steps: must be an integer >= 0"),
    ("optimizer.weight_decay", -1.0, r"config\.optimizer\.weight_decay: must be a finite"),
    ("schedule.step_factor", -1.0, r"config\.schedule\.step_factor: must be a finite number"
     r" > 0\.0"),
    ("parallel.num_devices", 0, r"config\.parallel\.num_devices: must be an integer >= 1 \(or"
     r" None\), got 0"),
    ("dataset.num_train", 0, r"config\.dataset\.num_train: must be an integer >= 1, got 0"),
    ("dataset.num_test", 0, r"config\.dataset\.num_test: must be an integer >= 1, got 0"),
    ("input.worker_count", -1, r"config\.input\.worker_count: must be an integer >= 0"),
    ("input.worker_buffer_size", 0, r"config\.input\.worker_buffer_size: must be an integer"),
    ("seed", -3, r"config\.seed: must be an integer >= 0, got -3"),
])
def test_bad_value_names_its_key(config, key, value, message):
  *path, field = key.split(".")
  section = config
  for part in path:
    section = section[part]
  section[field] = value
  with pytest.raises(schema.ConfigError, match=message):
    build.experiment(config, with_data=False)


def test_unknown_task(config):
  config.tasks.names = ("segmentation", "boundaries")
  with pytest.raises(schema.ConfigError, match=r"config\.tasks\.names: unknown value 'boundaries'"):
    build.experiment(config, with_data=False)


def test_task_the_dataset_lacks(config, monkeypatch):
  no_normals = data.Dataset(
      info=lambda cfg: data.DatasetInfo(("segmentation", "depth"), 3, ("a", "b", "c"), (16, 24, 3)),
      builder=None)
  monkeypatch.setitem(data.REGISTRY, "no_normals", no_normals)
  config.dataset.name = "no_normals"
  with pytest.raises(schema.ConfigError,
                     match=r"config\.tasks\.names: task 'normals' is not in dataset 'no_normals'"):
    build.experiment(config, with_data=False)


def test_unknown_model_option(config):
  config.model.kwargs.depth_multiplier = 2
  with pytest.raises(schema.ConfigError,
                     match=r"config\.model\.kwargs\.depth_multiplier: not an option"):
    build.experiment(config, with_data=False)


def test_reserved_balancer_option(config):
  config.balancer.kwargs.num_tasks = 5
  with pytest.raises(schema.ConfigError, match=r"config\.balancer\.kwargs\.num_tasks"):
    build.experiment(config, with_data=False)


def test_image_size_the_network_cannot_take(config):
  config.model.kwargs.widths = (4, 8, 8, 8)
  exp = build.experiment(config, with_data=False)
  tasks, model = exp.tasks, exp.model
  channels = {t.name: t.channels for t in tasks}
  build.check_shapes(model, (18, 26, 3), channels)  # Odd sizes are fine.
  with pytest.raises(schema.ConfigError, match=r"config\.model: .* images of shape \(4, 4, 3\)"):
    build.check_shapes(model, (4, 4, 3), channels)


def test_valid_configs_pass(config):
  build.experiment(config, with_data=False)


def test_cli_reports_a_bad_key_without_a_traceback(tmp_path):
  proc = subprocess.run(
      [sys.executable, "-m", "mtl_jax.main", "--config=configs/tiny.py",
       f"--workdir={tmp_path}", "--config.balancer.name=nope"],
      capture_output=True, text=True, timeout=300, check=False)
  assert proc.returncode != 0
  assert "config.balancer.name: unknown value 'nope'" in proc.stderr
  assert "Traceback" not in proc.stderr


def _set(config, key, value):
  *path, field = key.split(".")
  section = config
  for name in path:
    section = section[name]
  section[field] = value


@pytest.mark.parametrize("key,value,message", [
    ("model.wrapper", "magic", r"config\.model\.wrapper: unknown value 'magic'; known: hmsa"),
    ("tasks.segmentation.loss", "dice",
     r"config\.tasks\.segmentation\.loss: unknown value 'dice'; known: ce, focal"),
    ("tasks.segmentation.focal_alpha", (1.0, 2.0),
     r"config\.tasks\.segmentation\.focal_alpha: needs one weight per class \(7\), got 2"),
    ("tasks.segmentation.sr_warmup_steps", -1,
     r"config\.tasks\.segmentation\.sr_warmup_steps: must be an integer >= 0"),
    ("tasks.depth.loss", "berhu", r"config\.tasks\.depth\.loss: unknown value 'berhu'"),
    ("tasks.depth.distance", "l3", r"config\.tasks\.depth\.distance: unknown value 'l3'"),
    ("eval.scales", (0.0, 1.0), r"config\.eval\.scales: must be distinct positive numbers"),
])
def test_bad_option_of_the_seeds_names_its_key(config, key, value, message):
  _set(config, key, value)
  with pytest.raises(schema.ConfigError, match=message):
    build.experiment(config, with_data=False)


def test_wrapper_options_name_their_key(config):
  config.model.wrapper = "hmsa"
  config.model.wrapper_kwargs.exit_width = 4
  with pytest.raises(schema.ConfigError,
                     match=r"config\.model\.wrapper_kwargs\.exit_width: not an option of wrapper 'hmsa';"
                           r" options: attention_stage, attention_width, resize, tasks, train_scale"):
    build.experiment(config, with_data=False)
  del config.model.wrapper_kwargs["exit_width"]
  config.model.wrapper_kwargs.train_scale = 1.5
  with pytest.raises(schema.ConfigError, match=r"wrapper_kwargs\.train_scale: must lie in"):
    build.experiment(config, with_data=False)
  config.model.wrapper_kwargs.train_scale = 0.5
  config.tasks.names = ("depth", "normals")
  with pytest.raises(schema.ConfigError,
                     match=r"wrapper_kwargs\.tasks: hmsa needs task 'segmentation'"):
    build.experiment(config, with_data=False)
  config.model.wrapper = "self_regulation"
  config.model.wrapper_kwargs = {"exit_width": 0}
  with pytest.raises(schema.ConfigError,
                     match=r"wrapper_kwargs\.task: self_regulation needs task 'segmentation'"):
    build.experiment(config, with_data=False)
  config.tasks.names = ("segmentation", "depth")
  with pytest.raises(schema.ConfigError,
                     match=r"wrapper_kwargs\.exit_width: must be a positive integer"):
    build.experiment(config, with_data=False)


def test_attention_fusion_needs_hmsa_and_attention_loss_needs_labels(config, monkeypatch):
  config.eval.scales = (0.5, 1.0)
  build.experiment(config, with_data=False)  # Average fusion: any network.
  config.eval.fusions = ("average", "attention")
  with pytest.raises(schema.ConfigError,
                     match=r"config\.eval\.fusions: 'attention' needs the HMSA wrapper"):
    build.experiment(config, with_data=False)
  config.model.wrapper = "hmsa"
  build.experiment(config, with_data=False)
  no_labels = data.Dataset(
      info=lambda cfg: data.DatasetInfo(("depth", "normals"), 3, ("a", "b", "c"), (16, 24, 3)),
      builder=None)
  monkeypatch.setitem(data.REGISTRY, "no_labels", no_labels)
  config.dataset.name = "no_labels"
  config.tasks.names = ("depth",)
  config.model.wrapper = None
  config.eval.scales = ()
  config.tasks.depth.loss = "attention"
  with pytest.raises(schema.ConfigError,
                     match=r"config\.tasks\.depth\.loss: 'attention' reads the 'segmentation'"
                           r" ground truth, which dataset 'no_labels' lacks"):
    build.experiment(config, with_data=False)


def test_eval_scales_the_network_cannot_take(config):
  config.model.kwargs.widths = (4, 8, 8, 8)
  exp = build.experiment(config, with_data=False)
  tasks, model = exp.tasks, exp.model
  channels = {t.name: t.channels for t in tasks}
  with pytest.raises(schema.ConfigError,
                     match=r"config\.eval\.scales: network HPS does not run on images of shape"
                           r" \(16, 24, 3\) at scales \(0\.25, 1\.0\)"):
    build.check_shapes(model, (16, 24, 3), channels, eval_scales=(0.25, 1.0))


def test_a_registered_module_that_is_no_network_is_named(config, monkeypatch):
  import flax.linen as nn  # pylint: disable=g-import-not-at-top
  from mtl_jax import models  # pylint: disable=g-import-not-at-top

  class NotANetwork(nn.Module):
    task_channels: dict
    axis_name: str = None

    def __call__(self, images, train):
      return {}

  monkeypatch.setitem(models.REGISTRY, "not_a_network", NotANetwork)
  config.model.name = "not_a_network"
  config.model.kwargs = {}
  with pytest.raises(schema.ConfigError,
                     match=r"config\.model\.name: NotANetwork is not an mtl_jax network: it lacks"
                           r" encode, decode"):
    build.experiment(config, with_data=False)


def test_a_switch_that_is_not_a_bool_is_named():
  loose = ml_collections.ConfigDict({"input": {"augment": "yes"}})  # As from a JSON file.
  with pytest.raises(schema.ConfigError,
                     match=r"^config\.input\.augment: must be True or False, got 'yes'$"):
    schema.check_ranges(loose)
