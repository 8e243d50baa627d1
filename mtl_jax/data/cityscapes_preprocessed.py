"""The preprocessed Cityscapes release of MTAN, one source of the ``cityscapes`` dataset.

The 128 x 256 release the field trains on (distributed with MTAN; used by
Auto-Lambda, Nash-MTL, FAMO, LibMTL): ``<root>/{train,val}/{image, label_7,
label_19,depth}/<index>.npy``, one file per sample and modality
(``npy_layout``). Depth is kept as released: MTAN's README calls it (inverse)
depth, so it is NOT in metres. Record i of a split is its i-th smallest index.
"""

import os

from mtl_jax.data import npy_layout

SOURCE = ("the preprocessed Cityscapes (128x256) archive linked from the MTAN"
          " repository README (github.com/lorenmt/mtan)")


def release_files(num_classes: int, height: int, width: int) -> tuple[npy_layout.Modality, ...]:
  """The release's directories used by a config, and their shapes."""
  m = npy_layout.Modality
  return (m("image", "image", ((height, width, 3),)),
          m(f"label_{num_classes}", "segmentation", ((height, width),), num_classes),
          m("depth", "depth", ((height, width, 1), (height, width))))


def scan(manual_dir: str, split_dirs: dict[str, str], cfg) -> dict[str, tuple]:
  """Checks both splits' layouts and headers; returns ``{tfds split: (directory, indices,
  modalities)}``.

  Args:
    manual_dir: the manual directory (the release, or a directory holding it).
    split_dirs: tfds split -> the release's split directory.
    cfg: the builder config (``num_classes``, ``height``, ``width``, ``name``).
  """
  mods = release_files(cfg.num_classes, cfg.height, cfg.width)
  root = npy_layout.find_root(manual_dir, mods, tuple(split_dirs.values()),
                              f"Cityscapes {cfg.name} (from {SOURCE})")
  return {split: (os.path.join(root, d), npy_layout.scan_split(os.path.join(root, d), mods),
                  mods)
          for split, d in split_dirs.items()}


def examples(files: tuple, cfg):
  """``(index, example)`` per sample of one split, values checked (``npy_layout.load``)."""
  del cfg
  directory, indices, mods = files
  for i in indices:
    yield i, {m.key: npy_layout.load(os.path.join(directory, m.dirname, f"{i}.npy"), m)
              for m in mods}
