"""A dilated ResNet with output stride 8: the DeepLab-style backbone of LibMTL and Auto-Lambda."""

from typing import Optional, Sequence

import flax.linen as nn
import jax

from mtl_jax.models.blocks import input_norm as input_norm_lib

from mtl_jax.models.blocks.conv_block import norm_layer

# Bottleneck blocks per stage in ResNet-50 (He et al. 2016).
RESNET50_DEPTHS = (3, 4, 6, 3)
# Output channels of a bottleneck block relative to its 3x3 convolution's.
EXPANSION = 4


class Bottleneck(nn.Module):
  """``relu(x' + norm(conv1x1(relu(norm(conv3x3(relu(norm(conv1x1(x)))))))))``.

  The 3x3 convolution carries the stride and the dilation (ResNet v1.5), padded
  by the dilation on every side as torchvision pads it (so ImageNet weights give
  the same features, ``mtl_jax.models.pretrained``); the shortcut ``x'`` is
  ``x``, or a 1x1 conv-norm projection when the stride or the channel count
  changes. ``[B, H, W, C]`` -> ``[B, H / stride, W / stride, width]``.

  Attributes:
    width: output channels (the inner 3x3 convolution has ``width // 4``).
    stride: stride of the 3x3 convolution.
    dilation: dilation of the 3x3 convolution.
    norm: normalisation kind; axis_name: data-parallel axis for batch norm.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> block, x = Bottleneck(16, stride=2, norm="none"), jnp.zeros((1, 8, 8, 4))
    >>> v = jax.eval_shape(lambda x: block.init(jax.random.key(0), x, train=False), x)
    >>> jax.eval_shape(lambda v, x: block.apply(v, x, train=False), v, x).shape
    (1, 4, 4, 16)
    >>> sorted(v["params"])  # 1x1, 3x3, 1x1 and the projection shortcut
    ['Conv_0', 'Conv_1', 'Conv_2', 'projection']
  """
  width: int
  stride: int = 1
  dilation: int = 1
  norm: str = "batch"
  axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    inner = max(self.width // EXPANSION, 1)
    bias = self.norm == "none"

    def norm(y, features):
      return norm_layer(self.norm, features, train, self.axis_name)(y)

    y = nn.relu(norm(nn.Conv(inner, (1, 1), use_bias=bias)(x), inner))
    pad = ((self.dilation, self.dilation),) * 2
    y = nn.Conv(inner, (3, 3), strides=self.stride, kernel_dilation=self.dilation,
                padding=pad, use_bias=bias)(y)
    y = nn.relu(norm(y, inner))
    y = norm(nn.Conv(self.width, (1, 1), use_bias=bias)(y), self.width)
    if self.stride != 1 or x.shape[-1] != self.width:
      x = nn.Conv(self.width, (1, 1), strides=self.stride, use_bias=bias, name="projection")(x)
      x = norm(x, self.width)
    return nn.relu(x + y)


class ResNetStage(nn.Module):
  """``depth`` bottleneck blocks; the first stage starts with ResNet's stem.

  Stem: 7x7 stride-2 conv-norm-ReLU with ``width // 4`` channels and a 3x3
  stride-2 max pooling (``1/4`` of the input), padded by 3 and 1 on every side
  as torchvision's. A dilated stage's first block keeps the previous stage's
  dilation (``first_dilation``), as torchvision's
  ``replace_stride_with_dilation`` and the MTAN/LibMTL ``ResnetDilated`` do it.
  Returns ``(inner, out)``: the first block's output and the last's.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> stage, x = ResNetStage(8, depth=2, stem=True, norm="none"), jnp.zeros((1, 32, 32, 3))
    >>> v = jax.eval_shape(lambda x: stage.init(jax.random.key(0), x, train=False), x)
    >>> [y.shape for y in jax.eval_shape(lambda v, x: stage.apply(v, x, train=False), v, x)]
    [(1, 8, 8, 8), (1, 8, 8, 8)]
  """
  width: int
  depth: int
  stride: int = 1
  dilation: int = 1
  stem: bool = False
  norm: str = "batch"
  axis_name: Optional[str] = None
  first_dilation: Optional[int] = None  # The first block's (None: ``dilation``).

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> tuple[jax.Array, jax.Array]:
    if self.stem:
      stem_width = max(self.width // EXPANSION, 1)
      x = nn.Conv(stem_width, (7, 7), strides=2, padding=((3, 3), (3, 3)),
                  use_bias=self.norm == "none", name="stem")(x)
      x = nn.relu(norm_layer(self.norm, stem_width, train, self.axis_name, name="stem_norm")(x))
      x = nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
    first = self.dilation if self.first_dilation is None else self.first_dilation
    inner = x = Bottleneck(self.width, self.stride, first, self.norm, self.axis_name)(x, train)
    for _ in range(self.depth - 1):
      x = Bottleneck(self.width, 1, self.dilation, self.norm, self.axis_name)(x, train)
    return inner, x


class DilatedResNet(nn.Module):
  """ResNet with output stride 8: stages beyond the second dilate instead of striding.

  At full size (``widths=(256, 512, 1024, 2048)``, ``depths=(3, 4, 6, 3)``) this
  is ResNet-50's convolutional body (23.5M parameters) as DeepLab uses it
  (Chen et al. 2017) and LibMTL/Auto-Lambda train it for NYUv2 and Cityscapes:
  stage 1 at ``1/4`` of the input, stage 2 at ``1/8`` (stride 2), stages 3 and 4
  stay at ``1/8`` with dilations 2 and 4. Input ``[B, H, W, 3]`` (H and W
  divisible by 8); output one feature per stage, finest first, stage ``i``
  ``[B, H / s_i, W / s_i, widths[i]]`` with ``s = (4, 8, 8, 8)``. Any number of
  stages: stage 3 onwards dilate by 2, 4, 8, ..., each stage's first block by
  the previous stage's dilation (torchvision's and the MTAN/LibMTL code's
  convention).

  Attributes:
    widths: output channels per stage (bottleneck width = ``widths[i] // 4``;
      the stem has ``widths[0] // 4``).
    depths: bottleneck blocks per stage (default ResNet-50's ``(3, 4, 6, 3)``).
    norm: normalisation kind; axis_name: data-parallel axis for batch norm.
    remat: rematerialise each stage (as ``ConvEncoder``'s).

  Example:
    >>> import jax, jax.numpy as jnp
    >>> enc = DilatedResNet(widths=(8, 16, 16), depths=(1, 1, 1), norm="none")
    >>> x = jax.ShapeDtypeStruct((2, 32, 48, 3), jnp.float32)
    >>> v = jax.eval_shape(lambda x: enc.init(jax.random.key(0), x, train=False), x)
    >>> [f.shape for f in jax.eval_shape(lambda v, x: enc.apply(v, x, train=False), v, x)]
    [(2, 8, 12, 8), (2, 4, 6, 16), (2, 4, 6, 16)]
  """
  widths: Sequence[int] = (256, 512, 1024, 2048)
  depths: Optional[Sequence[int]] = None
  norm: str = "batch"
  axis_name: Optional[str] = None
  remat: bool = False
  input_norm: str = "unit"  # How the images are normalised first (blocks.input_norm).

  # The finest feature's stride relative to the input.
  INPUT_STRIDE = 4

  @classmethod
  def default_depths(cls, num_stages: int) -> tuple[int, ...]:
    """ResNet-50's ``(3, 4, 6, 3)`` (3 for any further stage)."""
    return RESNET50_DEPTHS[:num_stages] + (3,) * max(num_stages - len(RESNET50_DEPTHS), 0)

  def setup(self):
    depths = self.default_depths(len(self.widths)) if self.depths is None else tuple(self.depths)
    if len(depths) != len(self.widths):
      raise ValueError(f"DilatedResNet: {len(self.widths)} widths but depths {depths}")
    stage = nn.remat(ResNetStage, static_argnums=(2,)) if self.remat else ResNetStage
    stages = []
    for i, (width, depth) in enumerate(zip(self.widths, depths)):
      dilation = 2 ** (i - 1) if i >= 2 else 1
      stages.append(stage(width, depth, stride=2 if i == 1 else 1, dilation=dilation,
                          stem=i == 0, norm=self.norm, axis_name=self.axis_name,
                          first_dilation=max(dilation // 2, 1)))
    self.stages = stages
    input_norm_lib.check(self.input_norm)

  def stage(self, i: int, x: jax.Array, train: bool) -> tuple[jax.Array, jax.Array]:
    """Stage ``i`` alone: ``(first block's output, stage output)``."""
    if i == 0:
      x = input_norm_lib.normalize(x, self.input_norm)
    return self.stages[i](x, train)

  def __call__(self, x: jax.Array, train: bool) -> tuple[jax.Array, ...]:
    x = input_norm_lib.normalize(x, self.input_norm)
    features = []
    for stage in self.stages:
      _, x = stage(x, train)
      features.append(x)
    return tuple(features)
