"""Epoch-based schedules: converted to steps from the split size and the global batch."""

import pytest

from configs import cityscapes_hps
from configs import default
from configs import nyuv2_hps
from mtl_jax import build
from mtl_jax import epochs
from mtl_jax import optim
from mtl_jax import schema


def test_the_papers_schedules_in_steps():
  # NYUv2: 795 train images, batch 2 -> ceil(397.5) = 398 steps per epoch.
  nyuv2 = epochs.to_steps(nyuv2_hps.get_config(), 795)
  assert (nyuv2.schedule.num_steps, nyuv2.schedule.step_every, nyuv2.eval.every_steps) == (
      200 * 398, 100 * 398, 398)
  # Cityscapes: 2975 images, batch 8 -> ceil(371.875) = 372.
  city = epochs.to_steps(cityscapes_hps.get_config(), 2975)
  assert (city.schedule.num_steps, city.schedule.step_every, city.eval.every_steps) == (
      200 * 372, 100 * 372, 372)


def test_step_lr_halves_after_epoch_100():
  config = epochs.to_steps(nyuv2_hps.get_config(), 795)
  lr = optim.schedule(config)
  # Update i belongs to epoch i // 398; epochs 0-99 at 1e-4, 100-199 at 5e-5.
  got = [float(lr(i)) for i in (0, 100 * 398 - 1, 100 * 398, 200 * 398 - 1)]
  assert got == pytest.approx([1e-4, 1e-4, 5e-5, 5e-5], rel=1e-6)


def test_step_based_configs_are_left_alone():
  config = default.get_config()
  converted = epochs.to_steps(config, 123)
  assert converted.to_dict() == config.to_dict()


def test_fractions_and_uneven_batches():
  config = default.get_config()
  config.input.batch_size = 8
  config.schedule.num_epochs = 2.5
  config.eval.every_epochs = 0.01
  converted = epochs.to_steps(config, 100)  # ceil(100 / 8) = 13 steps per epoch.
  assert converted.schedule.num_steps == 33  # 32.5, rounded half up.
  assert converted.eval.every_steps == 1  # At least one step.
  assert config.schedule.num_steps == 2000  # The original is not modified.
  assert "13 steps per epoch (100 examples, global batch 8)" in epochs.describe(config, 100)


@pytest.mark.parametrize("section, field, value", [
    ("schedule", "num_epochs", 0), ("schedule", "step_every_epochs", -1.0),
    ("eval", "every_epochs", float("nan")),
])
def test_bad_epoch_field_names_its_key(section, field, value):
  config = default.get_config()
  config.input.batch_size = config.input.eval_batch_size = 8
  config[section][field] = value
  with pytest.raises(schema.ConfigError,
                     match=rf"config\.{section}\.{field}: must be a number > 0"):
    build.experiment(config, with_data=False)
