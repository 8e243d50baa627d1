"""Moving NHWC feature maps between the scales of a network.

Encoders halve the size by max pooling (or strided convolution) and decoders
bring it back; these functions map a feature to the size of another one, so
networks need not know each encoder's strides:

* ``upsample_to``: bilinear resize (any size);
* ``pool_to``: max pooling by an integer factor (or nothing at the same size);
* ``max_unpool``: SegNet's unpooling (Badrinarayanan et al. 2017): each value
  goes back to the position of the maximum it was pooled from;
* ``to_input_resolution``: the last step of a decoder whose finest feature is
  ``stride`` times smaller than the input.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp


def upsample_to(x: jax.Array, like: jax.Array) -> jax.Array:
  """Bilinear resize of NHWC ``x`` to the spatial size of ``like``.

  >>> x, like = jax.ShapeDtypeStruct((1, 2, 3, 4), jnp.float32), jnp.zeros((1, 4, 6, 1))
  >>> jax.eval_shape(upsample_to, x, like).shape
  (1, 4, 6, 4)
  """
  b, h, w, c = x.shape
  if (h, w) == like.shape[1:3]:
    return x
  return jax.image.resize(x, (b, like.shape[1], like.shape[2], c), "bilinear")


def pool_to(x: jax.Array, like: jax.Array) -> jax.Array:
  """Max pooling of ``x`` ``[B, H, W, C]`` to the size of ``like`` ``[B, H/k, W/k, ...]``.

  The factor ``k = H // like_H`` must be the same along both axes (windows
  ``k x k``, stride ``k``); ``k = 1`` returns ``x``.

  >>> x = jnp.arange(16.0).reshape(1, 4, 4, 1)
  >>> jax.jit(pool_to)(x, jnp.zeros((1, 2, 2, 7)))[0, :, :, 0].tolist()
  [[5.0, 7.0], [13.0, 15.0]]
  """
  k = x.shape[1] // like.shape[1]
  if x.shape[1:3] == like.shape[1:3]:
    return x
  if x.shape[2] // like.shape[2] != k:
    raise ValueError(f"pool_to: {x.shape} -> {like.shape} is not one factor on both axes")
  return nn.max_pool(x, (k, k), strides=(k, k))


def max_unpool(x: jax.Array, like: jax.Array) -> jax.Array:
  """SegNet unpooling: ``x`` ``[B, H/2, W/2, C]`` -> ``[B, H, W, C]``.

  ``like`` ``[B, H, W, C]`` is the feature that 2x2 max pooling turned into
  ``x``'s scale; each value of ``x`` is placed where ``like`` had its window's
  maximum (the first one on ties) and every other position is zero. The
  positions are constants: no gradient flows into ``like``. H and W even.

  >>> like = jnp.array([[1., 5.], [3., 2.]]).reshape(1, 2, 2, 1)
  >>> jax.jit(max_unpool)(jnp.full((1, 1, 1, 1), 9.0), like)[0, :, :, 0].tolist()
  [[0.0, 9.0], [0.0, 0.0]]
  """
  b, h, w, c = like.shape
  if (h, w) != (2 * x.shape[1], 2 * x.shape[2]):
    raise ValueError(f"max_unpool: {like.shape} is not twice the size of {x.shape}")
  windows = like.reshape(b, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 5, 2, 4)
  argmax = jnp.argmax(jax.lax.stop_gradient(windows).reshape(b, h // 2, w // 2, c, 4), -1)
  onehot = jax.nn.one_hot(argmax, 4, dtype=x.dtype).reshape(b, h // 2, w // 2, c, 2, 2)
  out = x[..., None, None] * onehot
  return out.transpose(0, 1, 4, 2, 5, 3).reshape(b, h, w, c)


def to_input_resolution(x: jax.Array, stride: int) -> jax.Array:
  """Bilinear upsampling of ``[B, h, w, C]`` by ``stride`` (``stride == 1``: ``x``).

  >>> x = jax.ShapeDtypeStruct((2, 4, 6, 1), jnp.float32)
  >>> jax.eval_shape(lambda x: to_input_resolution(x, 4), x).shape
  (2, 16, 24, 1)
  """
  if stride == 1:
    return x
  b, h, w, c = x.shape
  return jax.image.resize(x, (b, h * stride, w * stride, c), "bilinear")
