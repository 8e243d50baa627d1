"""A run's record of itself: the resolved config as ``<workdir>/config.json``.

Every run writes the config it trains with, its epoch fields already converted
to steps, before its first step, so that ``train.restore(workdir)`` needs
nothing but the workdir, and so that a run resumed on the same workdir is the
run that was started there: resuming with a config that differs from the
record in anything but ``MAY_DIFFER`` (the run's length, where the data lives)
stops with a ``ConfigError`` naming the keys that differ.
``config.checkpoint.allow_changes`` (comma-separated keys or key prefixes, e.g.
``"optimizer.learning_rate"``) lets a resumed run differ in those on purpose;
the record is then rewritten with the new values.
"""

import json
import os
from typing import Any

import ml_collections

from mtl_jax.schema import ConfigError

FILE = "config.json"
# Keys a resumed run may change without saying so: the run's length, where the data lives
# and how per-task gradients are summed over devices (the same update).
MAY_DIFFER = ("schedule.num_steps", "schedule.num_epochs", "dataset.data_dir",
              "dataset.manual_dir", "checkpoint.allow_changes", "parallel.shard_task_grads")


def to_json(config: ml_collections.ConfigDict) -> str:
  """The config as JSON (tuples as lists; values JSON cannot hold by their repr)."""
  return config.to_json_best_effort(indent=1, sort_keys=True)


def _tuples(value: Any) -> Any:
  """JSON lists back to the tuples every sequence field of a config holds."""
  if isinstance(value, dict):
    return {k: _tuples(v) for k, v in value.items()}
  if isinstance(value, list):
    return tuple(_tuples(v) for v in value)
  return value


def flat(tree: dict, prefix: str = "") -> dict[str, Any]:
  """``{"section.field": value}`` of a nested dict.

  >>> flat({"a": {"b": 1, "c": {"d": 2}}, "e": 3})
  {'a.b': 1, 'a.c.d': 2, 'e': 3}
  """
  out = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      out.update(flat(value, f"{prefix}{key}."))
    else:
      out[f"{prefix}{key}"] = value
  return out


def path(workdir: str) -> str:
  return os.path.join(workdir, FILE)


def load(workdir: str) -> ml_collections.ConfigDict:
  """The config recorded in ``workdir`` (``FileNotFoundError`` naming the file if none)."""
  with open(path(workdir)) as f:
    return ml_collections.ConfigDict(_tuples(json.load(f)))


def differences(recorded: dict, current: dict, allowed=()) -> list[str]:
  """The flat keys whose values differ, but those in ``MAY_DIFFER`` and under ``allowed``.

  >>> differences({"a": {"b": 1, "c": 2}}, {"a": {"b": 1, "c": 3}, "d": 0})
  ['a.c', 'd']
  >>> differences({"a": {"b": 1, "c": 2}}, {"a": {"b": 5, "c": 3}}, allowed=("a.b", "a.c"))
  []
  """
  old, new = flat(recorded), flat(current)
  prefixes = tuple(MAY_DIFFER) + tuple(allowed)
  keep = lambda key: not any(key == p or key.startswith(p + ".") for p in prefixes)
  return sorted(k for k in set(old) | set(new) if keep(k) and old.get(k, ...) != new.get(k, ...))


def allowed_changes(config: ml_collections.ConfigDict) -> tuple[str, ...]:
  """``config.checkpoint.allow_changes`` as a tuple of keys."""
  spec = config.get("checkpoint", {}).get("allow_changes") or ""
  return tuple(k.strip().removeprefix("config.") for k in spec.split(",") if k.strip())


def record(workdir: str, config: ml_collections.ConfigDict, resuming: bool,
           write: bool = True) -> None:
  """Writes ``config`` to ``workdir/config.json`` (unless ``write`` is False: the other
  processes of a multi-process run); when resuming, first checks it against the record
  there.

  Raises:
    ConfigError: resuming with a config that differs from the record, naming
      the keys (and both values).
  """
  current = json.loads(to_json(config))
  if resuming and os.path.exists(path(workdir)):
    with open(path(workdir)) as f:
      recorded = json.load(f)
    keys = differences(recorded, current, allowed_changes(config))
    if keys:
      old, new = flat(recorded), flat(current)
      shown = "; ".join(f"{k}: {old.get(k, '(absent)')!r} recorded, {new.get(k, '(absent)')!r}"
                        f" now" for k in keys[:8])
      more = f" (and {len(keys) - 8} more)" if len(keys) > 8 else ""
      raise ConfigError(
          f"config.{keys[0]}: resuming {workdir} with a config that differs from the one"
          f" recorded in {path(workdir)} in {len(keys)} key(s): {shown}{more}. Use a new"
          f" workdir, set those keys as recorded, or allow the change with"
          f" --config.checkpoint.allow_changes={','.join(keys)}")
  if not write:
    return
  os.makedirs(workdir, exist_ok=True)
  tmp = path(workdir) + ".tmp"
  try:
    with open(tmp, "w") as f:
      f.write(to_json(config) + "\n")
    os.replace(tmp, path(workdir))
  except OSError as e:
    raise OSError(e.errno, e.strerror, path(workdir)) from e  # Named (a full disk, say).
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)
