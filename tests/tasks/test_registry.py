"""Tests of the task registry in mtl_jax.tasks."""

import pytest

from mtl_jax import tasks


def test_get_builds_each_task():
  assert isinstance(tasks.get("segmentation", num_classes=7), tasks.Segmentation)
  assert tasks.get("segmentation", num_classes=7).channels == 7
  assert tasks.get("depth").channels == 1
  assert tasks.get("normals", bin_width_degrees=0.1).bin_width_degrees == 0.1
  assert tasks.get("edges").channels == 2
  assert set(tasks.REGISTRY) == {"segmentation", "depth", "normals", "edges"}
  for name, cls in tasks.REGISTRY.items():
    assert cls.name == name


def test_unknown_task_names_it_and_the_known_ones():
  with pytest.raises(KeyError, match="'boundaries'.*depth, edges, normals, segmentation"):
    tasks.get("boundaries")
