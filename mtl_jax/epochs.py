"""Schedules in epochs, converted to steps at start-up from the split size and the batch.

The papers' schedule is "200 epochs, the learning rate halved after epoch 100,
evaluated after every epoch". A config says it with

  config.schedule.num_epochs = 200               # replaces schedule.num_steps
  config.schedule.step_every_epochs = 100        # replaces schedule.step_every ("step" decay)
  config.schedule.checkpoint_every_epochs = 10   # replaces schedule.checkpoint_every
  config.eval.every_epochs = 1                   # replaces eval.every_steps

and ``to_steps`` turns them into steps once the train split is known. This is
mtl_jax's one epoch convention (every config uses it, ``configs/
paper_setting.py`` included): an epoch is ``ceil(examples / global batch)``
steps, the optimizer steps per epoch of a PyTorch ``DataLoader`` without
``drop_last`` (the field's), e.g. 398 for NYUv2's 795 images in batches of 2,
372 for Cityscapes' 2975 in batches of 8; so 200 NYUv2 epochs are 79,600
steps and the rate halves at step 39,800, as in the field's code. (The input
pipeline streams epochs without a short last batch, so 200 such "epochs" see
200 * 398 * 2 = 159200 images, 200.25 passes over NYUv2.)
Fractional epochs are allowed (rounded to whole steps, at least one), e.g.
``--config.schedule.num_epochs=0.1`` for a short trial. Step-based configs (the
epoch fields None) are left as they are.
"""

import math

import ml_collections

# (section, epoch field, step field it replaces)
FIELDS = (("schedule", "num_epochs", "num_steps"),
          ("schedule", "step_every_epochs", "step_every"),
          ("schedule", "checkpoint_every_epochs", "checkpoint_every"),
          ("eval", "every_epochs", "every_steps"))


def steps_per_epoch(num_examples: int, global_batch: int) -> int:
  """``ceil(num_examples / global_batch)``, the optimizer steps of one epoch.

  >>> steps_per_epoch(795, 2), steps_per_epoch(2975, 8), steps_per_epoch(16, 8)
  (398, 372, 2)
  """
  if num_examples < 1 or global_batch < 1:
    raise ValueError(f"need examples and batch >= 1, got {num_examples} and {global_batch}")
  return -(-num_examples // global_batch)


def epochs_to_steps(epochs: float, per_epoch: int) -> int:
  """``floor(epochs * per_epoch + 1/2)``, at least 1.

  >>> epochs_to_steps(200, 398), epochs_to_steps(100, 398), epochs_to_steps(0.001, 398)
  (79600, 39800, 1)
  """
  return max(1, math.floor(epochs * per_epoch + 0.5))


def to_steps(config: ml_collections.ConfigDict, num_examples: int) -> ml_collections.ConfigDict:
  """A copy of ``config`` whose set epoch fields (``FIELDS``) are replaced by steps.

  Args:
    config: the experiment config (not modified).
    num_examples: the number of examples of the train split (all hosts).

  Returns:
    The copy; the epoch fields keep their values, the step fields they replace
    hold the steps.

  >>> cfg = ml_collections.ConfigDict({
  ...     "input": {"batch_size": 2},
  ...     "schedule": {"num_steps": 5, "num_epochs": 200.0, "step_every": 0,
  ...                  "step_every_epochs": 100.0, "checkpoint_every": 7,
  ...                  "checkpoint_every_epochs": None},
  ...     "eval": {"every_steps": 500, "every_epochs": None}})
  >>> steps = to_steps(cfg, 795)
  >>> steps.schedule.num_steps, steps.schedule.step_every, steps.eval.every_steps
  (79600, 39800, 500)
  """
  config = config.copy_and_resolve_references()
  per_epoch = steps_per_epoch(num_examples, config.input.batch_size)
  for section, epoch_field, step_field in FIELDS:
    epochs = config[section].get(epoch_field)
    if epochs is not None:
      config[section][step_field] = epochs_to_steps(epochs, per_epoch)
  return config


def describe(config: ml_collections.ConfigDict, num_examples: int) -> str:
  """A log line saying what the epoch fields became."""
  per_epoch = steps_per_epoch(num_examples, config.input.batch_size)
  parts = [f"config.{s}.{e}={config[s][e]:g} -> {s}.{t}={epochs_to_steps(config[s][e], per_epoch)}"
           for s, e, t in FIELDS if config[s].get(e) is not None]
  return (f"{per_epoch} steps per epoch ({num_examples} examples, global batch"
          f" {config.input.batch_size}): " + (", ".join(parts) or "no epoch fields set"))


def positive(value) -> bool:
  """Whether an epoch field's value is a finite number > 0."""
  return (isinstance(value, (int, float)) and not isinstance(value, bool)
          and math.isfinite(value) and value > 0)
