"""Ji et al.'s setting, as every non-hps reproduction config carries it."""

import glob
import importlib
import os

import pytest

from configs import default
from configs import paper_setting
from mtl_jax import epochs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# (size, training images, batch): NYUv2's 795 and Cityscapes' 2975 training images.
PAPER = {"nyuv2": ((288, 384), 795, 2), "cityscapes": ((128, 256), 2975, 8)}
CONFIGS = sorted(os.path.splitext(os.path.basename(p))[0]
                 for pattern in ("nyuv2_*.py", "cityscapes_*.py")
                 for p in glob.glob(os.path.join(ROOT, "configs", pattern))
                 if not p.endswith("_hps.py"))  # The hps configs follow mtl_jax.protocol.


def test_every_model_has_both_datasets():
  models = {name.split("_", 1)[1] for name in CONFIGS}
  assert {f"{ds}_{m}" for ds in PAPER for m in models} == set(CONFIGS)
  assert {"mtran", "mtan", "single_task", "densemtl", "semboost"} <= models


@pytest.mark.parametrize("name", CONFIGS)
def test_config_is_trained_as_in_the_paper(name):
  config = importlib.import_module(f"configs.{name}").get_config()
  dataset = name.split("_")[0]
  size, images, batch = PAPER[dataset]
  assert config.dataset.name == dataset
  assert (config.dataset.height, config.dataset.width) == size
  assert config.input.batch_size == batch
  assert config.optimizer.name == "adam" and config.optimizer.learning_rate == 1e-4
  # 200 epochs, halved after 100, evaluated and checkpointed every 10, in the library's one
  # epoch convention: ceil(images / batch) steps per epoch (398 on NYUv2, 372 on Cityscapes).
  assert (config.schedule.num_epochs, config.schedule.step_every_epochs,
          config.eval.every_epochs, config.schedule.checkpoint_every_epochs) == (200, 100, 10, 10)
  steps = epochs.to_steps(config, images)
  epoch = -(-images // batch)
  assert epoch == {"nyuv2": 398, "cityscapes": 372}[dataset]
  assert (steps.schedule.num_steps, steps.schedule.step_every, steps.eval.every_steps,
          steps.schedule.checkpoint_every) == (200 * epoch, 100 * epoch, 10 * epoch, 10 * epoch)
  assert config.schedule.decay == "step" and config.schedule.step_factor == 0.5
  assert config.schedule.warmup_steps == 0
  assert {"segmentation", "depth"} <= set(config.tasks.names)
  if dataset == "cityscapes":
    assert config.dataset.num_classes == 7


def test_nyuv2_runs_on_one_device_like_the_paper():
  assert paper_setting.apply(default.get_config(), "nyuv2").parallel.num_devices == 1
  assert paper_setting.apply(default.get_config(), "cityscapes").parallel.num_devices is None


def test_unknown_dataset_is_named():
  with pytest.raises(ValueError, match=r"must be one of \['cityscapes', 'nyuv2'\], got 'kitti'"):
    paper_setting.apply(default.get_config(), "kitti")
