"""CBAM against a NumPy transcription of its equations; the residual attention module's switches."""

import jax
import numpy as np
import pytest

from mtl_jax.models.blocks import cbam
from mtl_jax.models.blocks.residual_attention import ResidualAttention


def sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


def cbam_reference(x, params, k=7):
  """Woo et al.'s equations (2) and (3) in NumPy, the 7x7 convolution as explicit sums."""
  w0, b0 = params["mlp_hidden"]["kernel"], params["mlp_hidden"]["bias"]
  w1, b1 = params["mlp_output"]["kernel"], params["mlp_output"]["bias"]

  def mlp(v):
    return np.maximum(v @ w0 + b0, 0.0) @ w1 + b1

  channel = sigmoid(mlp(x.mean(axis=(1, 2))) + mlp(x.max(axis=(1, 2))))  # [B, C]
  x = x * channel[:, None, None, :]
  maps = np.stack([x.mean(-1), x.max(-1)], axis=-1)  # [B, H, W, 2]
  kernel, bias = params["spatial"]["kernel"], params["spatial"]["bias"]  # [k, k, 2, 1], [1]
  b, h, w, _ = maps.shape
  padded = np.zeros((b, h + k - 1, w + k - 1, 2))
  padded[:, k // 2:k // 2 + h, k // 2:k // 2 + w] = maps
  logits = np.full((b, h, w), bias[0], np.float64)
  for i, j in np.ndindex(h, w):
    logits[:, i, j] += np.einsum("bklc,klc->b", padded[:, i:i + k, j:j + k], kernel[..., 0])
  return x * sigmoid(logits)[..., None]


@pytest.fixture(scope="module")
def case():
  """A hand-made input: channels of different scales and signs, a bright spot, a dark corner."""
  x = np.zeros((2, 5, 6, 32), np.float32)
  x += np.linspace(-1.0, 2.0, 32, dtype=np.float32)  # channel c has mean -1 + 3c/31
  x[0, 2, 3] += 4.0
  x[1, :2, :2] = -3.0
  x[1] *= np.linspace(0.5, 1.5, 6, dtype=np.float32)[None, :, None]
  module = cbam.CBAM(reduction=8, variant="paper")
  params = jax.jit(module.init)(jax.random.PRNGKey(0), x)["params"]
  # Non-zero biases, so the reference checks them too.
  params = jax.tree_util.tree_map(lambda p: p + 0.1 if p.ndim == 1 else p, params)
  return module, params, x


def test_cbam_matches_the_numpy_reference(case):
  module, params, x = case
  out = jax.jit(module.apply)({"params": params}, x)
  ref = cbam_reference(x.astype(np.float64),
                       jax.tree_util.tree_map(lambda p: np.asarray(p, np.float64), params))
  np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
  assert not np.allclose(ref, x)  # the attention does something on this input


def test_cbam_parameter_count(case):
  _, params, _ = case
  count = sum(p.size for p in jax.tree_util.tree_leaves(params))
  # MLP 32 -> 4 -> 32 with biases, 7x7 conv from 2 maps to 1 with a bias.
  assert count == cbam.num_params(32, reduction=8, variant="paper") == (
      32 * 4 + 4 + 4 * 32 + 32 + 7 * 7 * 2 + 1)


def test_residual_attention_switches(case):
  module, params, x = case
  f, g = x, np.flip(x, axis=2).copy()
  attended = cbam_reference((f + g).astype(np.float64),
                            jax.tree_util.tree_map(lambda p: np.asarray(p, np.float64), params))
  variables = {"params": {"cbam": params}}

  @jax.jit
  def outputs(variables, f, g):
    return [ResidualAttention(residual=True, reduction=8, cbam="paper").apply(variables, f, g),
            ResidualAttention(residual=False, reduction=8, cbam="paper").apply(variables, f, g),
            ResidualAttention(attention=False).apply({}, f, g),
            ResidualAttention(attention=False, residual=False).apply({}, f, g)]

  full, no_residual, no_attention, neither = outputs(variables, f, g)
  np.testing.assert_allclose(full, f + attended, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(no_residual, attended, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(no_attention, f + (f + g), rtol=1e-6)
  np.testing.assert_allclose(neither, f + g, rtol=1e-6)
  shapes = jax.eval_shape(lambda: ResidualAttention(attention=False).init(
      jax.random.PRNGKey(0), f, g))
  assert not jax.tree_util.tree_leaves(shapes)  # no attention, no parameters


def official_spatial_reference(x, params, stats, train, k=7, eps=1e-5):
  """The authors' SpatialGate after the channel gate: sigmoid(BN(conv([max; mean]))), no bias."""
  w0, b0 = params["mlp_hidden"]["kernel"], params["mlp_hidden"]["bias"]
  w1, b1 = params["mlp_output"]["kernel"], params["mlp_output"]["bias"]
  mlp = lambda v: np.maximum(v @ w0 + b0, 0.0) @ w1 + b1
  x = x * sigmoid(mlp(x.mean(axis=(1, 2))) + mlp(x.max(axis=(1, 2))))[:, None, None, :]
  maps = np.stack([x.max(-1), x.mean(-1)], axis=-1)
  kernel = params["spatial"]["kernel"]
  b, h, w, _ = maps.shape
  padded = np.zeros((b, h + k - 1, w + k - 1, 2))
  padded[:, k // 2:k // 2 + h, k // 2:k // 2 + w] = maps
  logits = np.zeros((b, h, w))
  for i, j in np.ndindex(h, w):
    logits[:, i, j] = np.einsum("bklc,klc->b", padded[:, i:i + k, j:j + k], kernel[..., 0])
  mean, var = (logits.mean(), logits.var()) if train else (stats["mean"][0], stats["var"][0])
  norm = params["spatial_norm"]
  logits = (logits - mean) / np.sqrt(var + eps) * norm["scale"][0] + norm["bias"][0]
  return x * sigmoid(logits)[..., None]


@pytest.mark.parametrize("train", [True, False])
def test_official_variant_is_the_authors_spatial_gate(case, train):
  _, _, x = case
  module = cbam.CBAM(reduction=8)  # variant="official"
  variables = jax.jit(module.init)(jax.random.PRNGKey(1), x)
  params = jax.tree_util.tree_map(lambda p: p + 0.1 if p.ndim == 1 else p, variables["params"])
  assert "bias" not in params["spatial"] and set(params["spatial_norm"]) == {"scale", "bias"}
  stats = {"mean": np.array([0.3]), "var": np.array([2.0])}
  out = jax.jit(lambda v, x: module.apply(v, x, train, mutable=["batch_stats"])[0])(
      {"params": params, "batch_stats": {"spatial_norm": stats}}, x)
  f64 = lambda t: jax.tree_util.tree_map(lambda p: np.asarray(p, np.float64), t)
  ref = official_spatial_reference(x.astype(np.float64), f64(params), stats, train)
  np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
  count = sum(p.size for p in jax.tree_util.tree_leaves(params))
  assert count == cbam.num_params(32, reduction=8) == cbam.num_params(32, 8, variant="paper") + 1
