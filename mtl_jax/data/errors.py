"""What the data package raises when a user's data or data directories are wrong.

Every such error is a ``DataError`` whose message names the file, directory or
``config.dataset`` key at fault and what was expected, so that ``python -m
mtl_jax.main`` can end with that one message instead of a traceback. Each
subclass also keeps the built-in type callers would expect (``ValueError`` for
bad contents, ``FileNotFoundError`` for a missing directory, ``OSError`` for a
directory that cannot be written).
"""


class DataError(Exception):
  """A dataset's files, directories or data config are missing or wrong.

  >>> issubclass(LayoutError, DataError) and issubclass(ManualDirError, FileNotFoundError)
  True
  """


class LayoutError(DataError, ValueError):
  """A manual-download directory that does not hold what a builder expects."""


class ManualDirError(DataError, FileNotFoundError):
  """A missing or empty manual-download directory (``config.dataset.manual_dir``)."""


class DataDirError(DataError, OSError):
  """A data directory (``config.dataset.data_dir``) that cannot be read or written."""


class BuiltDataError(DataError, OSError):
  """A file of a built dataset (under ``config.dataset.data_dir``) that is missing or
  damaged; the message names it and how to rebuild it."""
