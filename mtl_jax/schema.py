"""The config's schema: the checks that need the config alone, run first at start-up.

``check(config)`` raises ``ConfigError`` naming the first invalid key: a name
no registry knows, an option a component does not take, a value out of range.
Everything that needs more than the config (the dataset's tasks and image
size, the network built) is checked by ``mtl_jax.build`` right after, in the
order the data needs.

Options of the chosen components (``config.model.kwargs``,
``config.model.wrapper_kwargs``, ``config.balancer.kwargs``,
``config.tasks.<task>``) are checked against their constructors' parameters,
so ``--config.balancer.kwargs.c=0.4`` is accepted for CAGrad and named as an
error for PCGrad.
"""

import inspect
import math

import jax
import ml_collections

from mtl_jax import balancers
from mtl_jax import data
from mtl_jax import epochs
from mtl_jax import evaluate
from mtl_jax import models
from mtl_jax import optim
from mtl_jax import parallel
from mtl_jax import task_grads
from mtl_jax import tasks
from mtl_jax.models import multi_scale

# Parameters the library sets itself: never options in a config.
RESERVED = {"model": ("task_channels", "axis_name"), "wrapper": ("network",),
            "balancer": ("num_tasks",), "task": ("num_classes", "class_names")}


class ConfigError(ValueError):
  """An invalid config value; the message starts with the config key."""


def check_name(key: str, value, known) -> None:
  """Raises ``ConfigError`` unless ``value`` is one of ``known``."""
  if value not in known:
    raise ConfigError(f"{key}: unknown value {value!r}; known: {', '.join(sorted(known))}")


def options_of(fn) -> list[str]:
  """The parameters a config may set for ``fn`` (a factory or a module class)."""
  return [name for name, p in inspect.signature(fn).parameters.items()
          if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
          and name not in ("self", "parent", "name")]


def check_options(key: str, options, fn, reserved=(), what: str = "") -> None:
  """Every key of ``options`` must be a parameter of ``fn``, and not one the library sets."""
  params = inspect.signature(fn).parameters
  accepts_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
  allowed = sorted(set(options_of(fn)) - set(reserved))
  for name in options:
    if name in reserved or (name not in params and not accepts_any):
      owner = f" of {what}" if what else " here"
      raise ConfigError(f"{key}.{name}: not an option{owner}; options: {', '.join(allowed)}")


def positive_int(key: str, value) -> None:
  if isinstance(value, bool) or not isinstance(value, int) or value < 1:
    raise ConfigError(f"{key}: must be a positive integer, got {value!r}")


# Fields whose values are plain numbers or switches: (key, kind, lowest value, None allowed).
# kind "int": an integer >= lowest; "float": a finite number >= lowest; "float>": > lowest.
RANGES = (
    ("seed", "int", 0, False),
    ("dataset.num_train", "int", 1, False),
    ("dataset.num_test", "int", 1, False),
    ("dataset.scene_seed", "int", 0, False),
    ("input.worker_count", "int", 0, False),
    ("input.worker_buffer_size", "int", 1, False),
    ("optimizer.weight_decay", "float", 0.0, False),
    ("optimizer.grad_clip_norm", "float", 0.0, False),
    ("optimizer.backbone_lr_scale", "float", 0.0, False),
    ("schedule.warmup_steps", "int", 0, False),
    ("schedule.step_every", "int", 0, False),
    ("schedule.step_factor", "float>", 0.0, False),
    ("eval.max_batches", "int", 0, False),
    ("eval.num_images", "int", 0, False),
    ("parallel.num_devices", "int", 1, True),
    ("parallel.num_processes", "int", 1, True),
    ("parallel.process_id", "int", 0, True),
)
SWITCHES = ("input.augment", "input.flip", "balancer.force_task_grads", "eval.at_start",
            "parallel.distributed", "parallel.shard_task_grads", "optimizer.skip_nonfinite")
_MISSING = object()


def _lookup(config: ml_collections.ConfigDict, key: str):
  node = config
  for part in key.split("."):
    if not isinstance(node, ml_collections.ConfigDict) or part not in node:
      return _MISSING
    node = node[part]
  return node


def check_ranges(config: ml_collections.ConfigDict) -> None:
  """Every plain number and switch of ``RANGES`` and ``SWITCHES`` within its range.

  >>> cfg = ml_collections.ConfigDict({"optimizer": {"grad_clip_norm": -1.0}})
  >>> check_ranges(cfg)
  Traceback (most recent call last):
  ...
  mtl_jax.schema.ConfigError: config.optimizer.grad_clip_norm: must be a finite number >= 0.0, got -1.0
  """
  for key, kind, low, none_ok in RANGES:
    value = _lookup(config, key)
    if value is _MISSING or (value is None and none_ok):
      continue
    number = not isinstance(value, bool) and isinstance(value, (int, float))
    if kind == "int":
      ok, want = number and isinstance(value, int) and value >= low, f"an integer >= {low}"
    elif kind == "float":
      ok = number and math.isfinite(value) and value >= low
      want = f"a finite number >= {low}"
    else:
      ok, want = number and math.isfinite(value) and value > low, f"a finite number > {low}"
    if not ok:
      also = " (or None)" if none_ok else ""
      raise ConfigError(f"config.{key}: must be {want}{also}, got {value!r}")
  for key in SWITCHES:
    value = _lookup(config, key)
    if value is not _MISSING and not isinstance(value, bool):
      raise ConfigError(f"config.{key}: must be True or False, got {value!r}")


def _check_dataset(cfg: ml_collections.ConfigDict) -> None:
  """The dataset's name, its optional fields and image size (its splits: ``check_splits``)."""
  check_name("config.dataset.name", cfg.name, data.REGISTRY)
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
      positive_int(f"config.dataset.{field}", cfg[field])


def check_splits(cfg: ml_collections.ConfigDict, info: data.DatasetInfo) -> None:
  """``config.dataset.train_split`` and ``eval_split`` must be splits of the dataset."""
  for field in ("train_split", "eval_split"):
    if cfg[field] not in info.splits:
      raise ConfigError(
          f"config.dataset.{field}: unknown split {cfg[field]!r} of {cfg.name!r}; known:"
          f" {', '.join(info.splits)} (nyuv2 and cityscapes call the releases' val/ \"test\")")


def _check_tasks(config: ml_collections.ConfigDict) -> None:
  names = tuple(config.tasks.names)
  if not names:
    raise ConfigError("config.tasks.names: no task given")
  if len(set(names)) != len(names):
    raise ConfigError(f"config.tasks.names: repeated task in {names}")
  for name in names:
    check_name("config.tasks.names", name, tasks.REGISTRY)
    check_options(f"config.tasks.{name}", config.tasks.get(name, {}), tasks.REGISTRY[name],
                  reserved=RESERVED["task"], what=f"task {name!r}")


COMPUTE_DTYPES = ("float32", "bfloat16")


def _check_model(config: ml_collections.ConfigDict) -> None:
  check_name("config.model.name", config.model.name, models.REGISTRY)
  check_name("config.model.dtype", config.model.get("dtype", "float32"), COMPUTE_DTYPES)
  check_options("config.model.kwargs", config.model.kwargs, models.REGISTRY[config.model.name],
                reserved=RESERVED["model"], what=f"network {config.model.name!r}")
  wrapper = config.model.get("wrapper")
  if wrapper:
    check_name("config.model.wrapper", wrapper, models.WRAPPERS)
    check_options("config.model.wrapper_kwargs", config.model.get("wrapper_kwargs", {}),
                  models.WRAPPERS[wrapper], reserved=RESERVED["wrapper"],
                  what=f"wrapper {wrapper!r}")
  scales = tuple(config.eval.get("scales", ()))
  if scales:
    if (not all(isinstance(x, (int, float)) and x > 0 for x in scales)
        or len(set(scales)) != len(scales)):
      raise ConfigError(f"config.eval.scales: must be distinct positive numbers, got {scales}")
    for fusion in config.eval.get("fusions", ()):
      check_name("config.eval.fusions", fusion, multi_scale.FUSIONS)


def _check_balancer(config: ml_collections.ConfigDict) -> None:
  check_name("config.balancer.name", config.balancer.name, balancers.REGISTRY)
  check_options("config.balancer.kwargs", config.balancer.kwargs,
                balancers.REGISTRY[config.balancer.name], reserved=RESERVED["balancer"],
                what=f"balancer {config.balancer.name!r}")
  check_name("config.balancer.level", config.balancer.level, task_grads.LEVELS)


def _check_schedule(config: ml_collections.ConfigDict) -> None:
  check_name("config.optimizer.name", config.optimizer.name, optim.OPTIMIZERS)
  lr = config.optimizer.learning_rate
  if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
    raise ConfigError(f"config.optimizer.learning_rate: must be > 0, got {lr!r}")
  check_name("config.schedule.decay", config.schedule.decay, optim.DECAYS)
  for key in ("num_steps", "log_every", "checkpoint_every"):
    positive_int(f"config.schedule.{key}", config.schedule[key])
  positive_int("config.eval.every_steps", config.eval.every_steps)
  for section, field, _ in epochs.FIELDS:
    value = config[section].get(field)
    if value is not None and not epochs.positive(value):
      raise ConfigError(f"config.{section}.{field}: must be a number > 0 (or None), got {value!r}")
  positive_int("config.eval.summary_window", config.eval.get("summary_window", 10))
  check_name("config.eval.protocol", config.eval.get("protocol", "split"), evaluate.PROTOCOLS)
  positive_int("config.eval.per_batch_size", config.eval.get("per_batch_size", 2))
  positive_int("config.checkpoint.max_to_keep", config.checkpoint.max_to_keep)


def _check_input(config: ml_collections.ConfigDict) -> None:
  scales = config.input.get("scales")
  try:
    scales_ok = bool(scales) and all(math.isfinite(float(s)) and float(s) >= 1 for s in scales)
  except (TypeError, ValueError):
    scales_ok = False
  if config.input.get("augment") and not scales_ok:
    raise ConfigError(f"config.input.scales: random scale-crop zoom factors, each >= 1 (1 ="
                      f" no zoom), at least one; got {scales!r}")
  threads = config.input.read_threads
  if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
    raise ConfigError(f"config.input.read_threads: must be an integer >= 0 (0: read in the"
                      f" process's own thread), got {threads!r}")
  positive_int("config.input.read_buffer_size", config.input.read_buffer_size)


def check_distributed(config: ml_collections.ConfigDict) -> None:
  """``config.parallel``'s multi-host keys, before ``jax.distributed.initialize`` sees them."""
  p = config.parallel
  given = [k for k in ("coordinator_address", "num_processes", "process_id")
           if p.get(k) is not None]
  if given and not p.distributed:
    raise ConfigError(f"config.parallel.{given[0]}: set, but config.parallel.distributed is"
                      " False; add --config.parallel.distributed=True")
  address = p.get("coordinator_address")
  if address is not None:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
      raise ConfigError(f"config.parallel.coordinator_address: {address!r} is not host:port"
                        " (e.g. 127.0.0.1:1234)")
  if p.get("process_id") is not None:
    if p.get("num_processes") is None:
      raise ConfigError("config.parallel.process_id: given without"
                        " config.parallel.num_processes")
    if not p.process_id < p.num_processes:
      raise ConfigError(f"config.parallel.process_id: {p.process_id!r} is not in"
                        f" [0, {p.num_processes}) (config.parallel.num_processes)")


def _check_parallel(config: ml_collections.ConfigDict) -> None:
  check_name("config.parallel.mode", config.parallel.mode, parallel.MODES)
  num_devices = config.parallel.num_devices or jax.local_device_count()
  if num_devices > jax.local_device_count():
    raise ConfigError(f"config.parallel.num_devices: {num_devices} requested but only"
                      f" {jax.local_device_count()} local devices exist")
  per_step = num_devices * jax.process_count()
  for key in ("batch_size", "eval_batch_size"):
    positive_int(f"config.input.{key}", config.input[key])
    if config.input[key] % per_step:
      raise ConfigError(f"config.input.{key}: {config.input[key]} does not split over"
                        f" {per_step} devices; use a multiple of {per_step}")
  group = config.eval.get("per_batch_size", 2)
  if config.eval.get("protocol") == evaluate.PER_BATCH and (
      config.input.eval_batch_size // per_step) % group:
    raise ConfigError(
        f"config.eval.per_batch_size: the per-batch protocol needs each device's"
        f" {config.input.eval_batch_size // per_step} evaluation examples"
        f" (config.input.eval_batch_size over {per_step} devices) to split into groups of"
        f" {group}")


def check(config: ml_collections.ConfigDict) -> None:
  """Raises ``ConfigError`` naming the first invalid key of ``config`` (see the module doc)."""
  check_ranges(config)
  _check_dataset(config.dataset)
  _check_tasks(config)
  _check_model(config)
  _check_balancer(config)
  _check_schedule(config)
  _check_input(config)
  check_distributed(config)
  _check_parallel(config)
