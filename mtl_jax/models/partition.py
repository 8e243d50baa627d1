"""Which parameters are shared and which belong to one task.

The convention every network in ``mtl_jax.models`` follows: a top-level
parameter collection whose name ends in ``_<task>`` (``heads_depth``, which is
how Flax names ``self.heads = {"depth": ...}`` in ``setup``) or equals the task
name belongs to that task; every other top-level entry is shared.
"""

from typing import Any, Mapping, Sequence


def owner(key: str, tasks: Sequence[str]):
  """The task that owns top-level parameter ``key``, or None if shared."""
  for task in tasks:
    if key == task or key.endswith("_" + task):
      return task
  return None


def split(params: Mapping[str, Any], tasks: Sequence[str]):
  """``params -> (shared, {task: task_params})``, each a dict of top-level entries."""
  shared = {k: v for k, v in params.items() if owner(k, tasks) is None}
  specific = {t: {k: v for k, v in params.items() if owner(k, tasks) == t} for t in tasks}
  return shared, specific


def merge(shared: Mapping[str, Any], specific: Mapping[str, Mapping[str, Any]]) -> dict:
  """The inverse of ``split``."""
  params = dict(shared)
  for task_params in specific.values():
    params.update(task_params)
  return params
