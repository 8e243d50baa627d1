"""Shared encoders, built by name: the one place encoder names resolve.

Every encoder is a Flax module built as ``get(name, widths=..., depths=...,
norm=..., axis_name=...)`` with

* ``__call__(images, train)``: ``[B, H, W, 3]`` images -> a tuple of feature
  maps, one per stage, finest first (stage ``i`` is ``[B, H_i, W_i, widths[i]]``);
* ``stage(i, x, train)``: stage ``i`` alone on stage ``i - 1``'s output (the
  images for ``i = 0``) -> ``(inner, out)``, ``out`` being the stage's feature
  and ``inner`` the output of its first layer or block (for networks that work
  between stages: MTAN's masks read ``inner``, cross-stitch mixes ``out``);
* ``INPUT_STRIDE``: how much smaller than the input its finest feature is
  (decoders upsample their prediction by it, ``resize.to_input_resolution``);
* ``default_depths(num_stages)`` (a classmethod): its layers or blocks per
  stage when ``depths`` is not given.

* ``conv`` (``ConvEncoder``): two 3x3 conv blocks per stage, max pooling
  between stages;
* ``segnet`` (``SegNetEncoder``): VGG-16's conv blocks (2, 2, 3, 3, 3 layers),
  max pooling between; full size: widths (64, 128, 256, 512, 512);
* ``resnet50_dilated`` (``DilatedResNet``): bottleneck blocks (3, 4, 6, 3),
  output stride 8 (the last two stages dilated); full size: widths
  (256, 512, 1024, 2048).

Networks take the encoder's name as an attribute (``encoder: str``, with
``widths`` and ``depths``) so configs can switch it (``config.model.kwargs.encoder``).
"""

from typing import Optional, Sequence

import flax.linen as nn

from mtl_jax.models.encoders.conv import ConvEncoder
from mtl_jax.models.encoders.resnet_dilated import DilatedResNet
from mtl_jax.models.encoders.segnet import SegNetEncoder

# name -> Module class taking widths, depths, norm, axis_name, remat.
REGISTRY = {
    "conv": ConvEncoder,
    "segnet": SegNetEncoder,
    "resnet50_dilated": DilatedResNet,
}


def get(name: str, *, widths: Sequence[int], depths: Optional[Sequence[int]] = None,
        norm: str = "batch", axis_name: Optional[str] = None, remat: bool = False,
        input_norm: str = "unit", **kwargs) -> nn.Module:
  """Builds the encoder registered as ``name``.

  ``depths`` (layers or blocks per stage) defaults to the encoder's own layout;
  ``remat`` rematerialises each stage in the backward pass; ``input_norm``
  ("unit" or "imagenet", ``blocks.input_norm``) is how it normalises the images.

  >>> get("conv", widths=(8, 16)).widths
  (8, 16)
  >>> get("resnet50_dilated", widths=(8, 16), depths=(1, 1)).INPUT_STRIDE
  4
  """
  if name not in REGISTRY:
    raise KeyError(f"unknown encoder {name!r}; known: {', '.join(sorted(REGISTRY))}")
  return REGISTRY[name](widths=tuple(widths), depths=None if depths is None else tuple(depths),
                        norm=norm, axis_name=axis_name, remat=remat, input_norm=input_norm,
                        **kwargs)
