"""Fabricates tiny manual-download directories and checks what a failed build leaves."""

import os
import shutil

import numpy as np
import tensorflow_datasets as tfds


def fabricate(kind: str, shape, rng: np.random.Generator, num_classes: int = 0) -> np.ndarray:
  """A random array of one modality, with its edge cases (ignore, invalid) present.

  Args:
    kind: "image" (float32 in [0, 1], exact 0 and 1 included), "label" (float32
      ids in [-1, C), -1 included), "depth" (float32 >= 0, zeros included) or
      "normal" (unit float32 vectors, some zero vectors).
    shape: the array shape.
    rng: the random generator.
    num_classes: labels only.
  """
  if kind == "image":
    x = rng.uniform(0.0, 1.0, shape)
    x.flat[0], x.flat[1] = 0.0, 1.0
  elif kind == "label":
    x = rng.integers(-1, num_classes, shape).astype(np.float64)
    x.flat[0], x.flat[1] = -1, num_classes - 1
  elif kind == "depth":
    x = rng.uniform(0.5, 10.0, shape)
    x.flat[0] = 0.0
  elif kind == "normal":
    x = rng.normal(size=shape)
    x /= np.linalg.norm(x, axis=-1, keepdims=True)
    x[0, 0] = 0.0
  else:
    raise ValueError(kind)
  return x.astype(np.float32)


def write_npy_layout(root, spec, sizes, seed=0):
  """Writes ``root/<split>/<dir>/<i>.npy``; returns the arrays written.

  Args:
    root: the directory to write into.
    spec: ``{dirname: (kind, shape, num_classes)}``.
    sizes: ``{split_dir: number of samples}``.
    seed: the random seed.

  Returns:
    ``{split_dir: {dirname: [array per index]}}``.
  """
  rng = np.random.default_rng(seed)
  written = {}
  for split, n in sizes.items():
    written[split] = {}
    for dirname, (kind, shape, num_classes) in spec.items():
      os.makedirs(os.path.join(root, split, dirname), exist_ok=True)
      arrays = [fabricate(kind, shape, rng, num_classes) for _ in range(n)]
      for i, x in enumerate(arrays):
        np.save(os.path.join(root, split, dirname, f"{i}.npy"), x)
      written[split][dirname] = arrays
  return written


def build(builder, manual_dir):
  """``builder.download_and_prepare`` reading ``manual_dir``; returns the builder."""
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=os.fspath(manual_dir)))
  return builder


def leftovers(data_dir):
  """Prepared datasets (dataset_info.json) and incomplete directories under data_dir."""
  found = []
  for dirpath, dirnames, filenames in os.walk(data_dir):
    found += [os.path.join(dirpath, d) for d in dirnames if "incomplete" in d]
    found += [os.path.join(dirpath, f) for f in filenames
              if f in ("dataset_info.json", "features.json") or "array_record" in f]
  return found


def reset(directory):
  shutil.rmtree(directory, ignore_errors=True)
  os.makedirs(directory)
