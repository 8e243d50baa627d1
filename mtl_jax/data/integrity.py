"""Checks of a built dataset's files: every array_record shard opens and holds its records.

``check(builder, splits)`` opens each shard of the named splits and compares its
record count with the one tfds recorded when it built them: a deleted, emptied
or truncated shard is found before anything trains, in the time it takes to read
their indices. A shard garbled in the middle opens fine and fails only when its
damaged record is read: ``Checked`` wraps a split's data source so that such a
read raises ``BuiltDataError`` naming the split's files, instead of the record
reader's anonymous error.
"""

from typing import Any, Optional, Sequence

from array_record.python import array_record_module

from mtl_jax.data.errors import BuiltDataError


def _first_line(e: Exception) -> str:
  return (str(e).strip().splitlines() or [type(e).__name__])[0][:160]


def _remedy(builder) -> str:
  return f"remove {builder.data_dir} and rerun to rebuild it"


def check(builder, splits: Sequence[str]) -> Optional[str]:
  """Why the built shards of ``splits`` are not as recorded (None when they are)."""
  for split in splits:
    info = builder.info.splits[split]
    for path, expected in zip(info.filepaths, info.shard_lengths):
      try:
        reader = array_record_module.ArrayRecordReader(str(path))
        try:
          count = reader.num_records()
        finally:
          reader.close()
      except Exception as e:  # pylint: disable=broad-except  # The reader's RuntimeError.
        return f"{path}: does not open ({_first_line(e)})"
      if count != expected:
        return f"{path}: {count} records, built with {expected} (truncated or emptied?)"
  return None


class Checked:
  """A split's random-access source whose damaged records raise ``BuiltDataError``."""

  def __init__(self, source: Any, builder, split: str):
    self._source = source
    self._where = f"split {split!r} of {builder.data_dir}"
    self._remedy = _remedy(builder)

  def __len__(self) -> int:
    return len(self._source)

  def _error(self, what, e: Exception) -> BuiltDataError:
    return BuiltDataError(f"{self._where}: {what} does not read"
                          f" ({_first_line(e)}); the built dataset is damaged:"
                          f" {self._remedy}")

  def __getitem__(self, index):
    try:
      return self._source[index]
    except (IndexError, KeyError):
      raise
    except Exception as e:  # pylint: disable=broad-except  # The reader's RuntimeError.
      raise self._error(f"record {index}", e) from e

  def __getitems__(self, indices):
    many = getattr(self._source, "__getitems__", None)
    if many is None:
      return [self[i] for i in indices]
    try:
      return many(indices)
    except Exception as e:  # pylint: disable=broad-except
      raise self._error(f"records {list(indices)[:4]}...", e) from e

  def __repr__(self) -> str:
    return f"Checked({self._where})"
