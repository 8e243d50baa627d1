"""PNG panels of a network's predictions: on a user's images (``mtl_jax.predict``) and, beside
the ground truth, on evaluation images (``predictions.png`` of a run).

Segmentation in a fixed palette with a legend of the classes shown, depth in
``viridis`` (truth and prediction on the truth's range, invalid pixels black),
normals as RGB in the display convention of NYUv2's figures, ``(R, G, B) = (n_x,
-n_y, -n_z) / 2 + 1/2`` of the camera-frame normal (x right, y down, z forward):
a floor is green, a wall facing the camera blue; edges black on white (unknown red).
"""

from typing import Mapping, Optional, Sequence

import numpy as np


def _pyplot():
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def _show(ax, task: str, value: np.ndarray, class_names: Sequence[str],
          depth_range: Optional[tuple[float, float]] = None) -> set[int]:
  """Draws one task's map on ``ax``; returns the class ids it shows (segmentation)."""
  plt = _pyplot()
  ax.axis("off")
  if task == "segmentation":
    colours = plt.get_cmap("tab20", max(len(class_names), 1))
    shown = np.ma.masked_outside(value, 0, len(class_names) - 1)
    ax.imshow(shown, cmap=colours, vmin=-0.5, vmax=len(class_names) - 0.5,
              interpolation="nearest")
    return set(np.unique(value).tolist()) & set(range(len(class_names)))
  if task == "depth":
    lo, hi = depth_range or (None, None)
    ax.set_facecolor("black")
    ax.imshow(np.ma.masked_equal(value, 0.0), cmap="viridis", vmin=lo, vmax=hi)
  elif task == "normals":
    ax.imshow(normals_rgb(value))
  elif task == "edges":
    ax.set_facecolor("tab:red")  # Unknown pixels (-1).
    ax.imshow(np.ma.masked_less(value, 0), cmap="gray_r", vmin=0, vmax=1,
              interpolation="nearest")
  else:
    ax.imshow(value if value.ndim == 2 else value[..., 0])
  return set()


def normals_rgb(normals: np.ndarray) -> np.ndarray:
  """Camera-frame unit normals ``[..., 3]`` as RGB in [0, 1] (x right, y up, z to the viewer).

  >>> normals_rgb(np.array([0.0, -1.0, 0.0]))  # Up, in the camera's y-down frame.
  array([0.5, 1. , 0.5])
  """
  return np.clip((np.asarray(normals) * np.array([1.0, -1.0, -1.0]) + 1.0) / 2.0, 0.0, 1.0)


def _legend(fig, class_ids: set[int], class_names: Sequence[str]) -> None:
  from matplotlib import patches  # pylint: disable=g-import-not-at-top
  colours = _pyplot().get_cmap("tab20", max(len(class_names), 1))
  handles = [patches.Patch(color=colours(c), label=class_names[c]) for c in sorted(class_ids)]
  if handles:
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 8), fontsize=8,
               frameon=False)


def predictions(image: np.ndarray, predicted: Mapping[str, np.ndarray],
                class_names: Sequence[str], path: str) -> None:
  """One image and each task's prediction side by side, written to ``path`` (PNG)."""
  plt = _pyplot()
  columns = 1 + len(predicted)
  fig, axes = plt.subplots(1, columns, figsize=(3.2 * columns, 3.6), squeeze=False)
  axes[0][0].imshow(image)
  axes[0][0].set_title("image")
  axes[0][0].axis("off")
  classes = set()
  for ax, (task, value) in zip(axes[0][1:], predicted.items()):
    ax.set_title(task)
    classes |= _show(ax, task, value, class_names)
  _legend(fig, classes, class_names)
  fig.tight_layout(rect=(0, 0.08, 1, 1))
  fig.savefig(path, dpi=100)
  plt.close(fig)


def truth_and_predictions(images: np.ndarray, truth: Mapping[str, np.ndarray],
                          predicted: Mapping[str, np.ndarray], class_names: Sequence[str],
                          path: str, title: str = "") -> None:
  """A row per image: the image, then each task's ground truth and prediction; PNG at ``path``.

  ``images`` uint8 ``[N, H, W, 3]``; ``truth`` and ``predicted`` map each task to
  ``[N, H, W(, 3)]`` arrays as the dataset stores them and ``Task.predict`` returns.
  """
  plt = _pyplot()
  tasks = list(predicted)
  rows, columns = len(images), 1 + 2 * len(tasks)
  fig, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 1.9 * rows + 0.8),
                           squeeze=False)
  classes = set()
  for r in range(rows):
    axes[r][0].imshow(images[r])
    axes[r][0].axis("off")
    for t, task in enumerate(tasks):
      depth_range = None
      if task == "depth":
        valid = truth[task][r][truth[task][r] > 0]
        depth_range = (float(valid.min()), float(valid.max())) if valid.size else None
      for c, (kind, value) in enumerate((("truth", truth[task][r]),
                                         ("predicted", predicted[task][r]))):
        ax = axes[r][1 + 2 * t + c]
        classes |= _show(ax, task, np.asarray(value), class_names, depth_range)
        if r == 0:
          ax.set_title(f"{task}\n{kind}", fontsize=9)
  axes[0][0].set_title("image", fontsize=9)
  if title:
    fig.suptitle(title, fontsize=10)
  _legend(fig, classes, class_names)
  fig.tight_layout(rect=(0, 0.06, 1, 1))
  fig.savefig(path, dpi=80)
  plt.close(fig)
