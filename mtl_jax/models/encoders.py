"""Shared encoders, built by name: the one place encoder names resolve.

Every encoder is a Flax module built as ``get(name, widths=..., norm=...,
axis_name=...)`` whose ``__call__(images, train)`` maps ``[B, H, W, 3]`` images
to a tuple of feature maps, one per stage, finest first (stage ``i`` is
``[B, H_i, W_i, C_i]``). Networks take the encoder's name as an attribute
(``encoder: str``) so configs can switch it (``config.model.kwargs.encoder``).
"""

from typing import Optional, Sequence

import flax.linen as nn

from mtl_jax.models.conv_encoder import ConvEncoder

# name -> Module class (or functools.partial of one) taking widths, norm, axis_name.
REGISTRY = {
    "conv": ConvEncoder,
}


def get(name: str, *, widths: Sequence[int], norm: str = "batch",
        axis_name: Optional[str] = None, **kwargs) -> nn.Module:
  """Builds the encoder registered as ``name``.

  >>> get("conv", widths=(8, 16)).widths
  (8, 16)
  """
  if name not in REGISTRY:
    raise KeyError(f"unknown encoder {name!r}; known: {', '.join(sorted(REGISTRY))}")
  return REGISTRY[name](widths=tuple(widths), norm=norm, axis_name=axis_name, **kwargs)
