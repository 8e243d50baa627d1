"""The encoder registry: shapes, the stage interface, published sizes, SegNet's unpooling."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mtl_jax.models import encoders
from mtl_jax.models.blocks.resize import max_unpool
from mtl_jax.models.decoders.segnet import SegNetDecoder


def shapes(module, x_shape, method=None):
  """Output shapes of ``module`` on ``x_shape`` images, traced only (no compilation)."""
  x = jax.ShapeDtypeStruct(x_shape, jnp.float32)
  v = jax.eval_shape(lambda x: module.init(jax.random.PRNGKey(0), x, train=False), x)
  out = jax.eval_shape(lambda v, x: module.apply(v, x, train=False, method=method), v, x)
  return v, jax.tree_util.tree_map(lambda a: a.shape, out)


def num_params(variables):
  return sum(int(np.prod(p.shape)) for p in jax.tree_util.tree_leaves(variables["params"]))


@pytest.mark.parametrize("hw", [(16, 24), (32, 32), (48, 16)])
@pytest.mark.parametrize("name,widths,depths,strides", [
    ("conv", (4, 8, 8), None, (1, 2, 4)),
    ("segnet", (4, 8, 8), None, (1, 2, 4)),
    ("resnet50_dilated", (8, 16, 16, 16), (1, 1, 1, 1), (4, 8, 8, 8)),
])
def test_stage_shapes(name, widths, depths, strides, hw):
  enc = encoders.get(name, widths=widths, depths=depths, norm="none")
  _, out = shapes(enc, (2, *hw, 3))
  assert out == tuple((2, hw[0] // s, hw[1] // s, w) for s, w in zip(strides, widths))
  assert enc.INPUT_STRIDE == strides[0]


  def run_stages(module, x, train):
    levels = []
    for i in range(len(widths)):
      inner, x = module.stage(i, x, train)
      levels.append((inner, x))
    return levels
  _, levels = shapes(enc, (2, *hw, 3), method=run_stages)
  assert tuple(p for _, p in levels) == out
  assert [inner for inner, _ in levels] == list(out)  # first layer/block: same size and width


def test_full_size_parameter_counts_match_the_published_networks():
  # VGG-16's 13 conv layers with biases have 14,714,688 parameters; batch norm
  # instead of the bias adds one more per channel (4,224 channels).
  segnet = encoders.get("segnet", widths=(64, 128, 256, 512, 512))
  assert num_params(shapes(segnet, (1, 32, 32, 3))[0]) == 14_714_688 + 4_224
  # torchvision's ResNet-50 has 25,557,032 parameters, 2,049,000 of them in the classifier.
  resnet = encoders.get("resnet50_dilated", widths=(256, 512, 1024, 2048))
  assert num_params(shapes(resnet, (1, 32, 32, 3))[0]) == 25_557_032 - 2_049_000


def test_unknown_encoder_names_the_known_ones():
  with pytest.raises(KeyError, match="resnet50_dilated"):
    encoders.get("vgg", widths=(4,))


def test_max_unpool_puts_values_at_the_pooled_maxima():
  rng = np.random.default_rng(0)
  like = rng.normal(size=(2, 4, 6, 3)).astype(np.float32)
  x = rng.normal(size=(2, 2, 3, 3)).astype(np.float32)
  expected = np.zeros_like(like)
  for b, i, j, c in np.ndindex(2, 2, 3, 3):
    window = like[b, 2 * i:2 * i + 2, 2 * j:2 * j + 2, c]
    di, dj = np.unravel_index(np.argmax(window), (2, 2))
    expected[b, 2 * i + di, 2 * j + dj, c] = x[b, i, j, c]
  np.testing.assert_array_equal(jax.jit(max_unpool)(x, like), expected)


def test_segnet_decoder_mirrors_the_encoder():
  features = tuple(jax.ShapeDtypeStruct(s, jnp.float32)
                   for s in [(1, 16, 16, 4), (1, 8, 8, 6), (1, 4, 4, 8), (1, 2, 2, 8)])
  dec = SegNetDecoder(norm="none")
  v = jax.eval_shape(lambda f: dec.init(jax.random.PRNGKey(0), f, train=False), features)
  levels = jax.eval_shape(lambda v, f: dec.apply(v, f, train=False), v, features)
  assert [(u.shape, p.shape) for u, p in levels] == [
      ((1, 16, 16, 4), (1, 16, 16, 4)), ((1, 8, 8, 6), (1, 8, 8, 4)),
      ((1, 4, 4, 8), (1, 4, 4, 6)), ((1, 2, 2, 8), (1, 2, 2, 8))]
  # VGG-16's layout mirrored: 2, 2, 3, 3 conv layers per level.
  assert len(v["params"]) == 2 + 2 + 3 + 3
