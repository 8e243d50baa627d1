"""Reads and checks the ``.npy``-per-sample layout of the field's preprocessed releases.

The preprocessed NYUv2 and Cityscapes archives linked from the MTAN repository
README (github.com/lorenmt/mtan), which Auto-Lambda, Nash-MTL, FAMO and LibMTL
also train on, hold one NumPy file per sample and modality::

  <root>/train/<modality>/<index>.npy
  <root>/val/<modality>/<index>.npy

with the same indices (0, 1, ..., N - 1) in every modality of a split.

Everything here raises ``LayoutError`` (a ``DataError`` and a ``ValueError``,
from ``mtl_jax.data.errors``) with a message that names the offending file or
directory. ``scan_split`` checks the layout and every file's header (shape and
dtype) without reading any data, so a builder can check all of it before it
writes anything; ``load`` reads one file and checks its values with its
modality's rules (``mtl_jax.data.modalities``). This module imports no jax and
no TensorFlow.
"""

import dataclasses
import os
import re
from typing import Sequence

import numpy as np

from mtl_jax.data import errors
from mtl_jax.data import modalities as table

LayoutError = errors.LayoutError  # Raised here; the builders raise it too.

_INDEX_FILE = re.compile(r"^(0|[1-9][0-9]*)\.npy$")


@dataclasses.dataclass(frozen=True)
class Modality:
  """One sub-directory of a split and what its files must hold.

  Attributes:
    dirname: the directory name (``image``, ``label_7``, ...).
    key: the modality its files hold (a key of ``modalities.TABLE``:
      ``image``, ``segmentation``, ``depth``, ``normals``), whose row checks
      and converts their values.
    shapes: the accepted array shapes.
    num_classes: labels only: the number of classes C.
  """
  dirname: str
  key: str
  shapes: tuple[tuple[int, ...], ...]
  num_classes: int = 0


def describe(modalities: Sequence[Modality], splits: Sequence[str] = ("train", "val")) -> str:
  """The expected layout as text, for error messages and instructions."""
  lines = []
  for split in splits:
    for m in modalities:
      shapes = " or ".join("x".join(map(str, s)) for s in m.shapes)
      text = table.get(m.key).npy_text
      lines.append(f"  {split}/{m.dirname}/<index>.npy  ({shapes}, {text})")
  return "\n".join(lines)


def find_root(manual_dir: os.PathLike, modalities: Sequence[Modality],
              splits: Sequence[str], what: str) -> str:
  """The directory that holds ``<split>/<modality>/`` for every split and modality.

  Looks in ``manual_dir`` itself, then in its immediate sub-directories (an
  archive extracted into a shared manual directory, e.g. ``manual/nyuv2/``).

  Args:
    manual_dir: the tfds manual directory.
    modalities: the modalities every split must have.
    splits: the split directory names (``("train", "val")``).
    what: the dataset's name and where its files come from, for the error.

  Returns:
    The root directory.

  Raises:
    LayoutError: no candidate holds every split and modality directory, or
      several do.
  """
  manual_dir = os.fspath(manual_dir)

  def complete(root):
    return all(os.path.isdir(os.path.join(root, s, m.dirname))
               for s in splits for m in modalities)

  if complete(manual_dir):
    return manual_dir
  children = sorted(os.path.join(manual_dir, c) for c in os.listdir(manual_dir)
                    if os.path.isdir(os.path.join(manual_dir, c)))
  found = [c for c in children if complete(c)]
  if len(found) == 1:
    return found[0]
  if len(found) > 1:
    raise LayoutError(f"{what}: several directories under {manual_dir} hold the layout"
                      f" ({', '.join(found)}); point the manual directory at one of them.")
  missing = [os.path.join(manual_dir, s, m.dirname) for s in splits for m in modalities
             if not os.path.isdir(os.path.join(manual_dir, s, m.dirname))]
  raise LayoutError(
      f"{what}: {manual_dir} does not hold the expected layout (nor does any of its"
      f" sub-directories); missing: {', '.join(missing)}. Expected, under the manual"
      f" directory or one sub-directory of it:\n{describe(modalities, splits)}\n"
      f"Found in {manual_dir}: {', '.join(sorted(os.listdir(manual_dir))) or 'nothing'}.")


def _header(path: str):
  """(shape, dtype) of an ``.npy`` file, reading only its header."""
  try:
    with open(path, "rb") as f:
      version = np.lib.format.read_magic(f)
      if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(f)
      else:
        shape, _, dtype = np.lib.format.read_array_header_2_0(f)
  except Exception as e:  # pylint: disable=broad-except
    raise LayoutError(f"{path}: not a readable .npy file ({e})") from e
  return tuple(shape), np.dtype(dtype)


def _check_header(path: str, modality: Modality) -> None:
  shape, dtype = _header(path)
  if shape not in modality.shapes:
    want = " or ".join(str(s) for s in modality.shapes)
    raise LayoutError(f"{path}: shape {shape}, expected {want} ({modality.dirname}/ of"
                      " this dataset configuration)")
  allowed = "f" if table.get(modality.key).npy_float_only else "fiu"
  if dtype.kind not in allowed:
    raise LayoutError(f"{path}: dtype {dtype}, expected a"
                      f" {'float' if allowed == 'f' else 'numeric'} array")


def scan_split(split_dir: str, modalities: Sequence[Modality]) -> list[int]:
  """Checks one split directory without reading any data; returns its indices.

  Every modality directory must exist and hold only ``<index>.npy`` files
  (names starting with "." are skipped), the same indices in every modality,
  each file with an accepted shape and dtype.

  Args:
    split_dir: e.g. ``<root>/train``.
    modalities: the modalities the split must have.

  Returns:
    The indices, sorted.

  Raises:
    LayoutError: naming the missing directory, the misnamed, unpaired or
      misshapen file.
  """
  present = {}
  for m in modalities:
    directory = os.path.join(split_dir, m.dirname)
    if not os.path.isdir(directory):
      raise LayoutError(f"missing directory {directory}")
    indices = set()
    for name in sorted(os.listdir(directory)):
      if name.startswith("."):
        continue
      match = _INDEX_FILE.match(name)
      if not match or not os.path.isfile(os.path.join(directory, name)):
        raise LayoutError(f"{os.path.join(directory, name)}: unexpected name; every entry"
                          f" of {directory} must be a file named <index>.npy (0.npy, 1.npy,"
                          " ...)")
      indices.add(int(match.group(1)))
    present[m.dirname] = indices
  every = set().union(*present.values())
  if not every:
    raise LayoutError(f"{split_dir}: no samples (no .npy files in"
                      f" {', '.join(m.dirname + '/' for m in modalities)})")
  for m in modalities:
    missing = sorted(every - present[m.dirname])
    if missing:
      i = missing[0]
      others = [d for d, s in present.items() if i in s]
      more = f" (and {len(missing) - 1} more indices)" if len(missing) > 1 else ""
      raise LayoutError(
          f"index {i}: {os.path.join(split_dir, m.dirname, f'{i}.npy')} is missing, but"
          f" {', '.join(os.path.join(split_dir, d, f'{i}.npy') for d in others)}"
          f" {'exists' if len(others) == 1 else 'exist'}{more}; every index needs a file in"
          " every modality directory.")
  ordered = sorted(every)
  for i in ordered:
    for m in modalities:
      _check_header(os.path.join(split_dir, m.dirname, f"{i}.npy"), m)
  return ordered


def load(path: str, modality: Modality) -> np.ndarray:
  """Reads one file, checks its values, and converts it to the stored form.

  The modality's row of ``modalities.TABLE`` checks and converts: image ->
  uint8 ``round(255 x)`` [H, W, 3]; labels -> uint8 with -1 stored as 255;
  depth -> float32 [H, W]; normals -> float32 [H, W, 3].

  Args:
    path: the ``.npy`` file.
    modality: what it must hold.

  Returns:
    The converted array.

  Raises:
    LayoutError: naming the file, for a wrong shape, dtype or value.
  """
  _check_header(path, modality)
  try:
    x = np.load(path, allow_pickle=False)
  except Exception as e:  # pylint: disable=broad-except
    raise LayoutError(f"{path}: not a readable .npy file ({e})") from e
  try:
    return table.get(modality.key).from_npy(x, modality.num_classes)
  except table.ValueCheckError as e:
    raise LayoutError(f"{path}: {e}") from e


def manual_dir_or_raise(dl_manager) -> str:
  """``dl_manager.manual_dir``, with a missing or empty directory as ``ManualDirError``.

  tfds raises an AssertionError that names the directory and repeats the
  builder's ``MANUAL_DOWNLOAD_INSTRUCTIONS``; this keeps that message.
  ``ManualDirError`` is a ``DataError`` and a ``FileNotFoundError``.
  """
  try:
    return os.fspath(dl_manager.manual_dir)
  except AssertionError as e:
    raise errors.ManualDirError(str(e)) from e
