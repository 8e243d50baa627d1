"""From a config to everything a run needs, built once, in the order the data needs.

``experiment(config)`` takes one straight path:

1. ``schema.check``: every key the config alone can check;
2. the dataset's info (``data.info``, read once): tasks it has, classes, image
   size;
3. the tasks (with the dataset's classes), the network (and its wrapper,
   whose options the wrapper checks against the network), traced at the
   image size without allocating anything, the balancer and the Δm
   baselines;
4. the data, prepared (built on first use), and the epoch fields converted to
   steps now that the split's size is known (``epochs.to_steps``);
5. the optimizer, whose schedule needs those steps.

Every component is built once. The config's own errors surface in 1-3, before
a dataset is built; each names its key (``schema.ConfigError``), and a
missing or wrong data file names the file (``data.DataError``).
"""

import inspect
import re
from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
import ml_collections
import optax

from mtl_jax import balancers as balancers_lib
from mtl_jax import backbone
from mtl_jax import baselines as baselines_lib
from mtl_jax import data
from mtl_jax import epochs
from mtl_jax import metrics
from mtl_jax import models
from mtl_jax import optim
from mtl_jax import parallel
from mtl_jax import schema
from mtl_jax import tasks as tasks_lib
from mtl_jax.models import interface
from mtl_jax.models import multi_scale

ConfigError = schema.ConfigError


class Experiment(NamedTuple):
  """What ``experiment`` builds from a config."""
  config: ml_collections.ConfigDict  # Resolved: the epoch fields' steps filled in.
  info: data.DatasetInfo
  source: Optional[data.Source]  # None when built without data.
  tasks: list  # In the order of the task axis.
  model: Any  # A network of mtl_jax.models (possibly wrapped).
  balancer: balancers_lib.Balancer
  tx: optax.GradientTransformation
  baselines: dict[str, float]  # Δm's single-task results ({}: no Δm).
  higher_is_better: dict[str, bool]  # {"task/metric": bool} of every evaluated metric.

  @property
  def input_keys(self) -> list[str]:
    """The batch keys the input pipeline loads (``input_keys``)."""
    return input_keys(self.tasks)


def _option_error(key: str, error: ValueError, component) -> ConfigError:
  """A component's ``ValueError`` as a ``ConfigError`` naming the option's key.

  Components word their errors ``"<option>: <problem>"`` (tasks, wrappers) or
  ``"<name>: <option> <problem>"`` (balancers), ``<option>`` one of the
  parameters of ``component`` (its factory or class).
  """
  options = schema.options_of(component)
  message = str(error)
  option, sep, problem = message.partition(":")
  if sep and option in options:
    return ConfigError(f"{key}.{option}:{problem}")
  match = re.match(r"\w+: (\w+) ", message)
  if match and match.group(1) in options:
    return ConfigError(f"{key}.{match.group(1)}: {message}")
  return ConfigError(f"{key}: {message}")


def input_keys(tasks) -> list[str]:
  """The batch keys the input pipeline loads: the image and what the tasks read.

  >>> input_keys([tasks_lib.get("depth", loss="attention", num_classes=3)])
  ['image', 'depth', 'segmentation']
  """
  keys = ["image"]
  for task in tasks:
    keys += [k for k in getattr(task, "inputs", (task.name,)) if k not in keys]
  return keys


def build_tasks(config: ml_collections.ConfigDict, info: data.DatasetInfo) -> list:
  """``config.tasks.names`` built with their options and the dataset's classes."""
  tasks = []
  for name in config.tasks.names:
    options = dict(config.tasks.get(name, {}))
    # A task whose ground truth can be derived from another key (edges from
    # segmentation): its "labels" option says which; None: stored if the dataset has it.
    derived_from = getattr(tasks_lib.REGISTRY[name], "derived_from", None)
    if derived_from and options.get("labels") is None:
      options["labels"] = "dataset" if name in info.tasks else derived_from
    if name not in info.tasks and not (derived_from and options.get("labels") == derived_from
                                       and derived_from in info.tasks):
      raise ConfigError(f"config.tasks.names: task {name!r} is not in dataset"
                        f" {config.dataset.name!r}, which has: {', '.join(info.tasks)}")
    if "num_classes" in inspect.signature(tasks_lib.REGISTRY[name]).parameters:
      options["num_classes"] = info.num_classes
    if "class_names" in inspect.signature(tasks_lib.REGISTRY[name]).parameters:
      options["class_names"] = tuple(info.class_names)
    try:
      task = tasks_lib.get(name, **options)
    except ValueError as e:
      raise _option_error(f"config.tasks.{name}", e, tasks_lib.REGISTRY[name]) from e
    for key in getattr(task, "inputs", ()):
      if key not in info.tasks:
        raise ConfigError(
            f"config.tasks.{name}.loss: {getattr(task, 'loss', name)!r} reads the {key!r}"
            f" ground truth, which dataset {config.dataset.name!r} lacks (it has:"
            f" {', '.join(info.tasks)})")
    tasks.append(task)
  return tasks


def build_model(config: ml_collections.ConfigDict, tasks):
  """The network of ``config.model`` for ``tasks``, wrapped if ``config.model.wrapper`` says so."""
  model = models.get(config.model.name, task_channels={t.name: t.channels for t in tasks},
                     axis_name=parallel.AXIS, **config.model.kwargs)
  try:
    interface.check(model)
  except TypeError as e:
    raise ConfigError(f"config.model.name: {e}") from e
  wrapper = config.model.get("wrapper")
  if wrapper:
    options = dict(config.model.get("wrapper_kwargs", {}))
    try:
      model = models.wrap(wrapper, model, **options)
    except ValueError as e:
      raise _option_error("config.model.wrapper_kwargs", e, models.WRAPPERS[wrapper]) from e
  if "attention" in tuple(config.eval.get("fusions", ())) and config.eval.get("scales"):
    if not hasattr(model, "attention_fusion"):
      raise ConfigError("config.eval.fusions: 'attention' needs the HMSA wrapper"
                        " (config.model.wrapper='hmsa')")
  return model


def build_balancer(config: ml_collections.ConfigDict, num_tasks: int) -> balancers_lib.Balancer:
  """The balancer of ``config.balancer`` for ``num_tasks`` tasks."""
  options = dict(config.balancer.kwargs)
  try:
    return balancers_lib.get(config.balancer.name, num_tasks=num_tasks, **options)
  except ValueError as e:
    raise _option_error("config.balancer.kwargs", e,
                        balancers_lib.REGISTRY[config.balancer.name]) from e


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


def compute_dtype(config: ml_collections.ConfigDict) -> Optional[Any]:
  """``config.model.dtype`` as ``train.train_step``'s ``dtype``: None for float32 (no casts in
  the program), else the jnp dtype."""
  name = config.model.get("dtype", "float32")
  return None if name == "float32" else jnp.dtype(name)


def experiment(config: ml_collections.ConfigDict, *, with_data: bool = True) -> Experiment:
  """Everything a run of ``config`` needs, built once (see the module doc for the order).

  Args:
    config: an experiment config (``configs/default.py``'s fields; not modified).
    with_data: prepare the dataset (building it on first use) and convert the
      epoch fields to steps. Without data, ``source`` is None and the step
      fields are used as they are (right for a resolved config, such as the
      ``config.json`` a run records).

  Returns:
    The ``Experiment``.

  Raises:
    ConfigError: an invalid config value, named by its key.
    data.DataError: a missing or wrong data file or directory, named.
  """
  schema.check(config)
  info = data.info(config.dataset)
  schema.check_splits(config.dataset, info)
  tasks = build_tasks(config, info)
  model = build_model(config, tasks)
  check_shapes(model, info.image_shape, {t.name: t.channels for t in tasks},
               eval_scales=tuple(config.eval.get("scales", ())))
  backbone.check(config, model)
  balancer = build_balancer(config, len(tasks))
  higher_is_better = metrics.flatten({t.name: t.higher_is_better for t in tasks})
  try:
    baselines = baselines_lib.resolve(config.eval.get("single_task_baselines"), config.dataset,
                                      higher_is_better, info)
  except ValueError as e:
    raise ConfigError(f"config.eval.single_task_baselines: {e}") from e
  source = None
  if with_data:
    # Built once: by the first process, while the others wait (then read it).
    source = parallel.first_process_first(lambda: data.prepare(config.dataset))
    config = epochs.to_steps(config, len(source.train))
  else:
    config = config.copy_and_resolve_references()
  return Experiment(config=config, info=info, source=source, tasks=tasks, model=model,
                    balancer=balancer, tx=optim.optimizer(config, backbone.labels(model)),
                    baselines=baselines,
                    higher_is_better=higher_is_better)


def eval_scales_and_fusions(config: ml_collections.ConfigDict) -> tuple[tuple, tuple]:
  """``(scales, fusions)`` of the multi-scale evaluation (both empty without scales)."""
  scales = tuple(config.eval.get("scales", ()))
  return scales, tuple(config.eval.get("fusions", ())) if scales else ()
