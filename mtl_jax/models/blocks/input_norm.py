"""How an encoder normalises its input images (``[0, 1]`` RGB from ``forward.images_of``).

* ``"unit"``: as they come, in ``[0, 1]`` (every network trained from scratch);
* ``"imagenet"``: ``(x - mean) / std`` with torchvision's ImageNet statistics,
  the input ImageNet-pretrained weights expect (``mtl_jax.models.pretrained``).
"""

import jax
import jax.numpy as jnp

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INPUT_NORMS = ("unit", "imagenet")


def check(kind: str) -> None:
  if kind not in INPUT_NORMS:
    raise ValueError(f"input_norm: unknown value {kind!r}; known: {', '.join(INPUT_NORMS)}")


def normalize(images: jax.Array, kind: str) -> jax.Array:
  """``[..., 3]`` images in ``[0, 1]`` normalised as ``kind`` says (in their dtype).

  >>> normalize(jnp.full((1, 3), 0.485), "imagenet")[0, 0]
  Array(0., dtype=float32)
  """
  check(kind)
  if kind == "unit":
    return images
  mean = jnp.asarray(IMAGENET_MEAN, images.dtype)
  std = jnp.asarray(IMAGENET_STD, images.dtype)
  return (images - mean) / std
