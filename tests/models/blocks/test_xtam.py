"""xTAM and its pooling against NumPy references on small hand-made inputs."""

import jax
import jax.numpy as jnp
import numpy as np
from tests.models import numpy_resize

from mtl_jax.models import XTAM
from mtl_jax.models.blocks import xtam


def numpy_pool(x, p):
  """Average over ``p x p`` blocks of ``[H, W, C]``, partial blocks over their pixels only."""
  h, w, _ = x.shape
  return np.stack([np.stack([x[i:i + p, j:j + p].mean(axis=(0, 1)) for j in range(0, w, p)])
                   for i in range(0, h, p)])


def numpy_xtam(target, source, params, pool):
  """The formula of ``XTAM``'s docstring, one example at a time, in float64."""
  outs = []
  for t, s in zip(target, source):
    pt, ps = numpy_pool(t, pool), numpy_pool(s, pool)
    dense = lambda x, name: x @ params[name]["kernel"] + params[name]["bias"]
    c = params["query"]["kernel"].shape[1]
    q, k, v = (dense(x, name).reshape(-1, c)
               for x, name in ((pt, "query"), (ps, "key"), (ps, "value")))
    logits = q @ k.T / np.sqrt(q.shape[1])
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)  # Softmax over source positions.
    attended = (weights @ v).reshape(1, pt.shape[0], pt.shape[1], -1)
    outs.append(params["scale"] * numpy_resize.upsample(attended, *t.shape[:2])[0])
  return np.stack(outs)


def random_params(rng, c_t, c_s, c):
  params = {name: {"kernel": rng.normal(size=(c_in, c)), "bias": rng.normal(size=c)}
            for name, c_in in (("query", c_t), ("key", c_s), ("value", c_s))}
  params["scale"] = rng.normal(size=c)
  return params


def test_pool_averages_blocks_and_partial_edge_blocks():
  x = np.random.default_rng(0).normal(size=(1, 3, 5, 2))
  np.testing.assert_allclose(xtam.pool(jnp.asarray(x), 2)[0], numpy_pool(x[0], 2), rtol=1e-6)


def test_xtam_matches_numpy_reference():
  rng = np.random.default_rng(1)
  for pool, (h, w) in ((2, (4, 6)), (1, (2, 3))):
    target, source = rng.normal(size=(2, h, w, 3)), rng.normal(size=(2, h, w, 5))
    params = random_params(rng, 3, 5, 4)
    out = jax.jit(XTAM(features=4, pool=pool, variant="mtl_jax").apply)(
        {"params": params}, jnp.asarray(target, jnp.float32), jnp.asarray(source, jnp.float32))
    assert out.shape == (2, h, w, 4)
    np.testing.assert_allclose(out, numpy_xtam(target, source, params, pool),
                               rtol=1e-5, atol=1e-5)


def test_attention_weights_sum_to_one_over_source_positions():
  # Constant values come out unchanged at every query, whatever the logits,
  # only if each query's weights sum to one over the source positions.
  rng = np.random.default_rng(2)
  q, k = (jnp.asarray(rng.normal(size=(1, 3, 2, 4)) * 3, jnp.float32) for _ in range(2))
  v = jnp.full((1, 3, 2, 1), 7.0)
  np.testing.assert_allclose(xtam.attend(q, k[:, :2], v[:, :2]), np.full((1, 3, 2, 1), 7.0),
                             rtol=1e-6)


def numpy_official_xtam(target, source, params, stats, pool, eps=1e-5):
  """The authors' SxTAM in eval mode, one example at a time: q from the target's every
  ``pool``-th pixel, k and v from the source max-pooled by ``pool``, each conv1x1 ->
  batch norm (running statistics) -> ReLU, softmax over source positions, nearest
  upsampling, times alpha."""
  outs = []
  for t, s in zip(target, source):
    h, w = t.shape[0] // pool, t.shape[1] // pool
    sub = t[:h * pool:pool, :w * pool:pool]
    pooled = s[:h * pool, :w * pool].reshape(h, pool, w, pool, -1).max(axis=(1, 3))

    def project(x, name):
      y = x @ params[name]["kernel"][0, 0]
      norm, stat = params[f"{name}_norm"], stats[f"{name}_norm"]
      y = (y - stat["mean"]) / np.sqrt(stat["var"] + eps) * norm["scale"] + norm["bias"]
      return np.maximum(y, 0.0)

    c = params["query"]["kernel"].shape[-1]
    q = project(sub, "query").reshape(-1, c)
    k, v = (project(pooled, name).reshape(-1, c) for name in ("key", "value"))
    logits = q @ k.T / np.sqrt(c)
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    attended = (weights @ v).reshape(h, w, c)
    outs.append(params["scale"] * attended.repeat(pool, 0).repeat(pool, 1))
  return np.stack(outs)


def test_official_variant_is_the_authors_sxtam():
  rng = np.random.default_rng(3)
  target, source = rng.normal(size=(2, 4, 6, 3)), rng.normal(size=(2, 4, 6, 5))
  module = XTAM(features=4, pool=2)  # variant="official"
  variables = jax.jit(module.init)(jax.random.PRNGKey(0), jnp.asarray(target, jnp.float32),
                                   jnp.asarray(source, jnp.float32))
  params = jax.tree_util.tree_map(
      lambda p: np.asarray(rng.normal(size=p.shape), np.float64), variables["params"])
  assert "bias" not in params["query"]  # Convolutions without a bias before each norm.
  stats = {name: {"mean": rng.normal(size=4), "var": rng.uniform(0.5, 2.0, 4)}
           for name in ("query_norm", "key_norm", "value_norm")}
  out = jax.jit(module.apply)({"params": params, "batch_stats": stats},
                              jnp.asarray(target, jnp.float32), jnp.asarray(source, jnp.float32))
  np.testing.assert_allclose(out, numpy_official_xtam(target, source, params, stats, 2),
                             rtol=1e-4, atol=1e-4)
