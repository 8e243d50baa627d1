"""A trained run's predictions on images of any size, from the command line or a notebook.

    python -m mtl_jax.predict --workdir=/tmp/mtl_jax/synthetic --images=a.png,b.jpg --out=/tmp/preds

For each image: ``<out>/<name>_<task>.npy`` (segmentation: int32 class ids
``[H, W]``; depth: float32 ``[H, W]``; normals: float32 unit vectors
``[H, W, 3]``, camera frame) at the image's own size, and ``<out>/<name>.png``,
a panel of the image and each task's prediction (with a class legend).
``--export=<file>`` also writes the inference function with ``jax.export``:
a serialized program with the weights inside, reloaded with
``jax.export.deserialize(open(file, "rb").read()).call(images)`` and no
mtl_jax at all (uint8 ``[B, H, W, 3]`` at the training size, any ``B``).

In Python, ``load(workdir)`` gives a ``Predictor``: ``predictor(image)`` on one
uint8 ``[H, W, 3]`` array returns ``{task: prediction}`` at its size, and
``predictor.fn`` is the jitted batch function at the training size.

An image is resized (bilinear, antialiased when shrinking) to the size the
run trained at, scaled to [0, 1] as in training, and each task's raw output
is resized back to the image's size before the task turns it into a
prediction (argmax of the logits, unit normals).
"""

import os
import sys
from typing import Any, Callable, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from absl import app
from absl import flags
from PIL import Image

from mtl_jax import build
from mtl_jax import checkpoint as checkpoint_lib
from mtl_jax import forward
from mtl_jax import panels as panels_lib
from mtl_jax import run_record
from mtl_jax import train


class PredictError(ValueError):
  """A workdir or an image that cannot be used; the message names it."""


class Predictor(NamedTuple):
  """What ``load`` returns."""
  tasks: Sequence[Any]
  image_shape: tuple[int, int]  # (H, W) of training.
  class_names: tuple[str, ...]
  raw: Callable  # jitted: uint8 [B, H, W, 3] at image_shape -> {task: raw output}
  fn: Callable  # jitted: uint8 [B, H, W, 3] at image_shape -> {task: prediction}

  def __call__(self, image: np.ndarray) -> dict[str, np.ndarray]:
    """``{task: prediction}`` of one uint8 ``[H, W, 3]`` image, at its own size."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
      raise PredictError(f"an image must be uint8 [H, W, 3], got {image.dtype} {image.shape}")
    predictions = jax.device_get(_at_size(self, image))
    return {task.name: predictions[task.name] for task in self.tasks}  # In the tasks' order.


def _resize(x: jax.Array, size: tuple[int, int]) -> jax.Array:
  """Bilinear resize of ``[B, h, w, C]`` to ``size`` (antialiased when shrinking)."""
  if tuple(x.shape[1:3]) == tuple(size):
    return x
  return jax.image.resize(x, (x.shape[0], *size, x.shape[-1]), "bilinear", antialias=True)


def _at_size(predictor: Predictor, image: np.ndarray) -> dict[str, jax.Array]:
  size = image.shape[:2]
  scaled = _resize(jnp.asarray(image, jnp.float32)[None], predictor.image_shape)
  as_uint8 = jnp.clip(jnp.round(scaled), 0, 255).astype(jnp.uint8)
  raw = predictor.raw(as_uint8)
  return {task.name: task.predict(_resize(raw[task.name].astype(jnp.float32), size))[0]
          for task in predictor.tasks}


def load(workdir: str, step: Optional[int] = None) -> Predictor:
  """The newest (or ``step``'s) checkpoint of the run in ``workdir`` as a ``Predictor``.

  Raises:
    PredictError: no ``config.json`` or no checkpoint in ``workdir``.
  """
  if not os.path.exists(run_record.path(workdir)):
    raise PredictError(f"{workdir}: no {run_record.FILE}; is it the workdir of a run?")
  try:
    exp, state = train.restore_experiment(workdir, step)
  except (checkpoint_lib.CheckpointError, FileNotFoundError) as e:
    raise PredictError(f"{workdir}: {e}") from e
  variables = {"params": state.params, "batch_stats": state.batch_stats}
  model, tasks = exp.model, exp.tasks

  @jax.jit
  def raw(images):
    return model.apply(variables, forward.images_of({"image": images}), train=False)

  @jax.jit
  def fn(images):
    outputs = raw(images)
    return {task.name: task.predict(outputs[task.name]) for task in tasks}

  return Predictor(tasks=tuple(tasks), image_shape=tuple(exp.info.image_shape[:2]),
                   class_names=tuple(exp.info.class_names), raw=raw, fn=fn)


def export(predictor: Predictor) -> bytes:
  """``predictor.fn`` serialized with ``jax.export`` (any batch size, the training size)."""
  batch, = jax.export.symbolic_shape("batch")
  spec = jax.ShapeDtypeStruct((batch, *predictor.image_shape, 3), jnp.uint8)
  return bytes(jax.export.export(predictor.fn)(spec).serialize())


def read_image(path: str) -> np.ndarray:
  """An image file as uint8 ``[H, W, 3]`` (grey and alpha converted); ``PredictError`` naming
  the file when it does not read."""
  try:
    with Image.open(path) as image:
      return np.asarray(image.convert("RGB"), np.uint8)
  except (OSError, ValueError) as e:
    raise PredictError(f"{path}: not an image that can be read ({e})") from e


def write(predictor: Predictor, images: Sequence[str], out: str) -> list[str]:
  """Predicts every image file and writes its ``.npy`` files and panel; returns the panels."""
  os.makedirs(out, exist_ok=True)
  panels = []
  for path in images:
    image = read_image(path)
    predictions = predictor(image)
    name = os.path.splitext(os.path.basename(path))[0]
    for task, value in predictions.items():
      np.save(os.path.join(out, f"{name}_{task}.npy"), value)
    panels.append(os.path.join(out, f"{name}.png"))
    panels_lib.predictions(image, predictions, predictor.class_names, panels[-1])
  return panels


def _define_flags():
  """The command's flags, defined when it runs: importing this module (a notebook, the
  tests, beside ``mtl_jax.main``'s ``--workdir``) defines none."""
  global _WORKDIR, _IMAGES, _OUT, _STEP, _EXPORT  # pylint: disable=global-statement
  _WORKDIR = flags.DEFINE_string("workdir", None, "The run's workdir.")
  _IMAGES = flags.DEFINE_list("images", None, "Image files (PNG, JPEG, ...).")
  _OUT = flags.DEFINE_string("out", None, "Where predictions go.")
  _STEP = flags.DEFINE_integer("step", None, "The checkpoint (default: the newest).")
  _EXPORT = flags.DEFINE_string("export", None,
                                "Also write the exported inference function here.")


def main(argv):
  if len(argv) > 1:
    sys.exit(f"unexpected arguments: {' '.join(argv[1:])}")
  missing = [f"--{f.name}" for f in (_WORKDIR, _IMAGES, _OUT) if not f.value]
  if missing:
    sys.exit(f"mtl_jax.predict needs {', '.join(missing)}")
  try:
    predictor = load(_WORKDIR.value, _STEP.value)
    panels = write(predictor, _IMAGES.value, _OUT.value)
    if _EXPORT.value:
      with open(_EXPORT.value, "wb") as f:
        f.write(export(predictor))
  except (PredictError, build.ConfigError) as e:
    sys.exit(f"mtl_jax.predict: {e}")
  print("\n".join(panels))


if __name__ == "__main__":
  _define_flags()
  app.run(main)
