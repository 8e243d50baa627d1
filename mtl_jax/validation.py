"""Start-up checks of a config: a bad value fails at once with the key it came from."""

import inspect

import jax
import jax.numpy as jnp
import ml_collections

from mtl_jax import balancers
from mtl_jax import baselines
from mtl_jax import data
from mtl_jax import epochs
from mtl_jax import models
from mtl_jax import optim
from mtl_jax import parallel
from mtl_jax import tasks
from mtl_jax.models import multi_scale


class ConfigError(ValueError):
  """An invalid config value; the message starts with the config key."""


def _check_name(key: str, value, known) -> None:
  if value not in known:
    raise ConfigError(f"{key}: unknown value {value!r}; known: {', '.join(sorted(known))}")


def _check_kwargs(key: str, kwargs, fn, reserved=()) -> None:
  """Every key of ``kwargs`` must be a parameter of ``fn`` (and not one the library sets)."""
  params = inspect.signature(fn).parameters
  accepts_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
  for name in kwargs:
    if name in reserved or (name not in params and not accepts_any):
      allowed = sorted(set(params) - set(reserved) - {"self", "parent", "name"})
      raise ConfigError(f"{key}.{name}: not an option here; options: {', '.join(allowed)}")


def _positive(key: str, value) -> None:
  if not isinstance(value, int) or value < 1:
    raise ConfigError(f"{key}: must be a positive integer, got {value!r}")


def _build_task(name: str, options, dataset_info):
  """The task as ``train.build`` makes it; its option errors name their config key."""
  kwargs = dict(options)
  if "num_classes" in inspect.signature(tasks.REGISTRY[name]).parameters:
    kwargs["num_classes"] = dataset_info.num_classes
  try:
    return tasks.get(name, **kwargs)
  except ValueError as e:
    option, sep, problem = str(e).partition(":")
    if sep and option in kwargs:  # The task's messages read "<option>: <problem>".
      raise ConfigError(f"config.tasks.{name}.{option}:{problem}") from e
    raise ConfigError(f"config.tasks.{name}: {e}") from e


def _check_wrapper(config, names) -> None:
  """``config.model.wrapper`` and its options (see ``models.WRAPPERS``)."""
  wrapper = config.model.get("wrapper")
  if not wrapper:
    return
  _check_name("config.model.wrapper", wrapper, models.WRAPPERS)
  options = config.model.get("wrapper_kwargs", {})
  _check_kwargs("config.model.wrapper_kwargs", options, models.WRAPPERS[wrapper],
                reserved=("network",))
  key = "config.model.wrapper_kwargs"
  wrapped = ((options.get("task", "segmentation"),) if wrapper == "self_regulation"
             else tuple(options.get("tasks", ("segmentation",))))
  for task in wrapped:
    if task not in names:
      raise ConfigError(f"{key}.{'task' if wrapper == 'self_regulation' else 'tasks'}: {wrapper}"
                        f" needs task {task!r}, which is not in config.tasks.names {names}")
  for width in ("exit_width", "attention_width"):
    if width in options:
      _positive(f"{key}.{width}", options[width])
  if wrapper == "hmsa" and not 0 < options.get("train_scale", 0.5) < 1:
    raise ConfigError(f"{key}.train_scale: must lie in (0, 1), got {options.train_scale!r}")


def _check_eval_scales(config) -> None:
  scales = tuple(config.eval.get("scales", ()))
  if not scales:
    return
  if (not all(isinstance(x, (int, float)) and x > 0 for x in scales)
      or len(set(scales)) != len(scales)):
    raise ConfigError(f"config.eval.scales: must be distinct positive numbers, got {scales}")
  for fusion in config.eval.get("fusions", ()):
    _check_name("config.eval.fusions", fusion, multi_scale.FUSIONS)
    if fusion == "attention" and config.model.get("wrapper") != "hmsa":
      raise ConfigError("config.eval.fusions: 'attention' needs the HMSA wrapper"
                        " (config.model.wrapper='hmsa')")


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ``ConfigError`` naming the first invalid key of ``config``."""
  _check_name("config.dataset.name", config.dataset.name, data.REGISTRY)
  _check_dataset(config.dataset)
  dataset_info = data.info(config.dataset)
  available = dataset_info.tasks
  names = tuple(config.tasks.names)
  if not names:
    raise ConfigError("config.tasks.names: no task given")
  if len(set(names)) != len(names):
    raise ConfigError(f"config.tasks.names: repeated task in {names}")
  for name in names:
    _check_name("config.tasks.names", name, tasks.REGISTRY)
    if name not in available:
      raise ConfigError(
          f"config.tasks.names: task {name!r} is not in dataset {config.dataset.name!r},"
          f" which has: {', '.join(available)}")
    _check_kwargs(f"config.tasks.{name}", config.tasks.get(name, {}), tasks.REGISTRY[name],
                  reserved=("num_classes",))
    task = _build_task(name, config.tasks.get(name, {}), dataset_info)
    for key in getattr(task, "inputs", ()):
      if key not in available:
        raise ConfigError(
            f"config.tasks.{name}.loss: {getattr(task, 'loss', name)!r} reads the {key!r}"
            f" ground truth, which"
            f" dataset {config.dataset.name!r} lacks (it has: {', '.join(available)})")

  _check_name("config.model.name", config.model.name, models.REGISTRY)
  _check_wrapper(config, names)
  _check_eval_scales(config)
  _check_kwargs("config.model.kwargs", config.model.kwargs, models.REGISTRY[config.model.name],
                reserved=("task_channels", "axis_name"))

  _check_name("config.balancer.name", config.balancer.name, balancers.REGISTRY)
  _check_kwargs("config.balancer.kwargs", config.balancer.kwargs,
                balancers.REGISTRY[config.balancer.name], reserved=("num_tasks",))
  _check_name("config.balancer.level", config.balancer.level, ("params", "features"))

  _check_name("config.optimizer.name", config.optimizer.name, optim.OPTIMIZERS)
  if not config.optimizer.learning_rate > 0:
    raise ConfigError(f"config.optimizer.learning_rate: must be > 0, got {config.optimizer.learning_rate!r}")
  _check_name("config.schedule.decay", config.schedule.decay, optim.DECAYS)
  for key in ("num_steps", "log_every", "checkpoint_every"):
    _positive(f"config.schedule.{key}", config.schedule[key])
  _positive("config.eval.every_steps", config.eval.every_steps)
  for section, field, _ in epochs.FIELDS:
    value = config[section].get(field)
    if value is not None and not epochs.positive(value):
      raise ConfigError(f"config.{section}.{field}: must be a number > 0 (or None), got {value!r}")
  _positive("config.eval.summary_window", config.eval.get("summary_window", 10))
  higher_is_better = {f"{name}/{metric}": better for name in names
                      for metric, better in tasks.REGISTRY[name].higher_is_better.items()}
  try:
    baselines.resolve(config.eval.get("single_task_baselines"), config.dataset, higher_is_better)
  except ValueError as e:
    raise ConfigError(f"config.eval.single_task_baselines: {e}") from e
  _positive("config.checkpoint.max_to_keep", config.checkpoint.max_to_keep)

  scales = config.input.get("scales")
  try:
    scales_ok = bool(scales) and all(float(s) >= 1 for s in scales)
  except (TypeError, ValueError):
    scales_ok = False
  if config.input.get("augment") and not scales_ok:
    raise ConfigError(f"config.input.scales: random scale-crop zoom factors, each >= 1 (1 ="
                      f" no zoom), at least one; got {scales!r}")

  if not isinstance(config.input.read_threads, int) or config.input.read_threads < 0:
    raise ConfigError(f"config.input.read_threads: must be an integer >= 0 (0: read in the"
                      f" process's own thread), got {config.input.read_threads!r}")
  _positive("config.input.read_buffer_size", config.input.read_buffer_size)

  _check_name("config.parallel.mode", config.parallel.mode, parallel.MODES)
  num_devices = config.parallel.num_devices or jax.local_device_count()
  if num_devices > jax.local_device_count():
    raise ConfigError(f"config.parallel.num_devices: {num_devices} requested but only"
                      f" {jax.local_device_count()} local devices exist")
  per_step = num_devices * jax.process_count()
  for key in ("batch_size", "eval_batch_size"):
    _positive(f"config.input.{key}", config.input[key])
    if config.input[key] % per_step:
      raise ConfigError(f"config.input.{key}: {config.input[key]} does not split over"
                        f" {per_step} devices; use a multiple of {per_step}")


def _check_dataset(cfg: ml_collections.ConfigDict) -> None:
  """The dataset's optional fields, image size and split names."""
  options = data.options(cfg.name)
  for field in ("source", "num_classes"):
    value = cfg.get(field)
    if value is None:
      continue
    if field not in options:
      users = sorted(n for n in data.REGISTRY if field in data.options(n))
      raise ConfigError(f"config.dataset.{field}: dataset {cfg.name!r} has no such option"
                        f" (only {', '.join(users)}); leave it None")
    if value not in options[field]:
      raise ConfigError(f"config.dataset.{field}: unknown value {value!r} for {cfg.name!r};"
                        f" known: {', '.join(map(str, options[field]))}")
  for field in ("height", "width"):
    if cfg.get(field) is not None:
      _positive(f"config.dataset.{field}", cfg[field])
  splits = data.info(cfg).splits
  for field in ("train_split", "eval_split"):
    if cfg[field] not in splits:
      raise ConfigError(
          f"config.dataset.{field}: unknown split {cfg[field]!r} of {cfg.name!r}; known:"
          f" {', '.join(splits)} (nyuv2 and cityscapes call the releases' val/ \"test\")")


def check_shapes(model, image_shape, task_channels, config_name: str = "config",
                 eval_scales=()) -> None:
  """Traces the model on ``[1, *image_shape]`` (no allocation) and checks each head's shape.

  A wrapped network (``models.WRAPPERS``) is also traced in training mode, and
  with ``eval_scales`` the network is traced at each of those scales.
  """
  dummy = jax.ShapeDtypeStruct((1, *image_shape), jnp.float32)
  try:
    variables = jax.eval_shape(lambda x: model.init(jax.random.PRNGKey(0), x, train=False), dummy)
    preds = jax.eval_shape(lambda v, x: model.apply(v, x, train=False), variables, dummy)
  except Exception as e:  # pylint: disable=broad-except
    raise ConfigError(
        f"{config_name}.model: network {type(model).__name__} does not run on images of"
        f" shape {tuple(image_shape)} (config.dataset.height/width): {e}") from e
  for task, channels in task_channels.items():
    expected = (1, image_shape[0], image_shape[1], channels)
    if preds[task].shape != expected:
      raise ConfigError(
          f"{config_name}.model: head {task!r} predicts {preds[task].shape}, expected"
          f" {expected}; config.dataset.height/width must suit the network's strides")
  if hasattr(model, "network"):  # A wrapper: training runs more than inference.
    def train_forward(v, x):
      return jax.vmap(lambda xi: model.apply(v, xi, train=True, mutable=["batch_stats"]),
                      axis_name=parallel.AXIS)(x)
    try:
      jax.eval_shape(train_forward, variables, jax.ShapeDtypeStruct((1, *dummy.shape), dummy.dtype))
    except Exception as e:  # pylint: disable=broad-except
      raise ConfigError(
          f"{config_name}.model.wrapper: {type(model).__name__} cannot train network"
          f" {type(model.network).__name__} on images of shape {tuple(image_shape)}: {e}") from e
  if eval_scales:
    try:
      jax.eval_shape(lambda v, x: multi_scale.predict(model, v, x, eval_scales, "average"),
                     variables, dummy)
    except Exception as e:  # pylint: disable=broad-except
      raise ConfigError(
          f"{config_name}.eval.scales: network {type(model).__name__} does not run on images"
          f" of shape {tuple(image_shape)} at scales {tuple(eval_scales)}: {e}") from e
