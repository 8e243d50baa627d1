"""Semi-dense up-skip connections against a hand computation."""

import jax.numpy as jnp
import numpy as np
from tests.models import numpy_resize

from mtl_jax.models import UpSkipDecoder, semi_dense_sum


def random(rng, *shape):
  return rng.normal(size=shape).astype(np.float32)


def test_semi_dense_sum_adds_every_feature_resized_to_the_output():
  rng = np.random.default_rng(0)
  f_in, f_1, f_2 = random(rng, 2, 2, 3, 3), random(rng, 2, 4, 6, 3), random(rng, 2, 8, 12, 3)
  expected = numpy_resize.upsample(f_in, 8, 12) + numpy_resize.upsample(f_1, 8, 12) + f_2
  out = semi_dense_sum([jnp.asarray(f) for f in (f_in, f_1, f_2)], jnp.asarray(f_2))
  np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_decoder_output_is_the_head_of_the_up_skip_sum():
  rng = np.random.default_rng(1)
  f_in, ups = random(rng, 1, 2, 2, 6), [random(rng, 1, 4, 4, 3), random(rng, 1, 8, 8, 3)]
  params = {"reduce": {"kernel": random(rng, 1, 1, 6, 3), "bias": random(rng, 3)},
            "head": {"kernel": random(rng, 1, 1, 3, 2), "bias": random(rng, 2)}}
  decoder = UpSkipDecoder(out_channels=2, width=3, num_up=2, norm="none")
  out = decoder.apply({"params": params}, f_in, ups, ups[-1], method="output")
  reduced = f_in @ params["reduce"]["kernel"][0, 0] + params["reduce"]["bias"]
  summed = (numpy_resize.upsample(reduced, 8, 8) + numpy_resize.upsample(ups[0], 8, 8)
            + ups[1])
  expected = summed @ params["head"]["kernel"][0, 0] + params["head"]["bias"]
  np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
  # Without the up-skips only the last up-convolution reaches the head.
  plain = UpSkipDecoder(out_channels=2, width=3, num_up=2, up_skip=False, norm="none")
  out = plain.apply({"params": params}, f_in, ups, ups[-1], method="output")
  expected = ups[1] @ params["head"]["kernel"][0, 0] + params["head"]["bias"]
  np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
