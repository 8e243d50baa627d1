"""MTRAN's ablation switches change what the paper's table says they change."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mtl_jax.models.blocks import cbam
from mtl_jax.models.networks.mtran import MTRAN

TASKS = {"segmentation": 5, "depth": 1}
WIDTHS = (8, 16, 16)


def build(**kwargs):
  return MTRAN(task_channels=TASKS, widths=WIDTHS, **{"norm": "none", "reduction": 4, **kwargs})


def trace_params(model):
  x = jax.ShapeDtypeStruct((1, 16, 16, 3), jnp.float32)
  return jax.eval_shape(lambda x: model.init(jax.random.PRNGKey(0), x, train=False), x)["params"]


def count(params):
  return sum(int(np.prod(p.shape)) for p in jax.tree_util.tree_leaves(params))


@pytest.mark.parametrize("variant, spatial", [("official", 2), ("paper", 1)])
def test_without_attention_drops_exactly_the_cbam_parameters(variant, spatial):
  full = trace_params(build(cbam=variant, norm="batch"))
  no_attention = trace_params(build(attention=False, norm="batch"))
  # One CBAM per stage per task: MLP C -> C/4 -> C with biases and a 7x7 conv, with a batch
  # norm's scale and offset (the authors' code) or a bias (the paper's equation).
  per_task = sum(2 * c * (c // 4) + c // 4 + c + 7 * 7 * 2 + spatial for c in WIDTHS)
  assert per_task == sum(cbam.num_params(c, reduction=4, variant=variant) for c in WIDTHS)
  assert count(full) - count(no_attention) == len(TASKS) * per_task
  assert count(no_attention) < count(full)


def test_without_residuals_has_the_same_parameters_and_another_output():
  full, no_residual = build(), build(residual=False)
  shapes = trace_params(full)
  assert jax.tree_util.tree_structure(trace_params(no_residual)) == (
      jax.tree_util.tree_structure(shapes))
  rng = np.random.default_rng(0)
  params = jax.tree_util.tree_map(
      lambda s: (0.3 * rng.normal(size=s.shape)).astype(np.float32), shapes)
  x = rng.uniform(size=(2, 16, 16, 3)).astype(np.float32)

  @jax.jit
  def both(params, x):
    return [model.apply({"params": params}, x, train=False) for model in (full, no_residual)]

  with_residual, without = both(params, x)
  for task in TASKS:
    assert np.all(np.isfinite(with_residual[task])) and np.all(np.isfinite(without[task]))
    scale = np.abs(with_residual[task]).mean()
    assert np.abs(with_residual[task] - without[task]).mean() > 0.05 * scale, task
