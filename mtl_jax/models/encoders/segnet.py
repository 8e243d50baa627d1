"""The SegNet encoder: VGG-16's convolutional blocks with max pooling between them."""

from mtl_jax.models.encoders.conv import ConvEncoder

# VGG-16's convolutions per block (Simonyan & Zisserman 2015, configuration D).
VGG16_DEPTHS = (2, 2, 3, 3, 3)


def vgg16_depths(num_stages: int) -> tuple[int, ...]:
  """VGG-16's convolutions per block for ``num_stages`` blocks (3 beyond the fifth).

  >>> vgg16_depths(4), vgg16_depths(6)
  ((2, 2, 3, 3), (2, 2, 3, 3, 3, 3))
  """
  extra = max(num_stages - len(VGG16_DEPTHS), 0)
  return VGG16_DEPTHS[:num_stages] + (VGG16_DEPTHS[-1],) * extra


class SegNetEncoder(ConvEncoder):
  """SegNet's encoder (Badrinarayanan et al. 2017), the backbone of MTAN's NYUv2 experiments.

  VGG-16's thirteen 3x3 conv-norm-ReLU layers in five blocks of
  ``(2, 2, 3, 3, 3)``, widths ``(64, 128, 256, 512, 512)`` at full size; a 2x2
  max pooling starts every block after the first, so block ``i`` is at
  ``1 / 2^i`` of the input (H and W divisible by ``2^(S-1)``; at 288x384 the
  coarsest block is 18x24). SegNet also pools after the last block and unpools
  first thing in the decoder; that pair has no parameters and is left out
  (decoders start from the last block). Any number of blocks: ``widths`` of
  length S uses the first S blocks' depths (3 beyond five), unless ``depths``
  is given. Same interface as ``ConvEncoder`` (``stage(i, x, train)`` gives
  ``(first conv's output, block output)``).

  Example:
    >>> import jax, jax.numpy as jnp
    >>> enc = SegNetEncoder(widths=(4, 8, 8), norm="none")
    >>> v = jax.eval_shape(lambda: enc.init(jax.random.key(0), jnp.zeros((1, 16, 16, 3)), False))
    >>> [len(v["params"][f"stages_{i}"]) for i in range(3)]  # conv layers per block
    [2, 2, 3]
  """

  @classmethod
  def default_depths(cls, num_stages: int) -> tuple[int, ...]:
    """VGG-16's layout (``vgg16_depths``)."""
    return vgg16_depths(num_stages)
