"""SemBoost: shapes, the shared/task split, LSUs at zero weights, training."""

import jax
import jax.numpy as jnp
from tests.models import network_training
import numpy as np
import pytest

from mtl_jax import models
from mtl_jax import task_grads
from mtl_jax.models import partition

TASKS = {"segmentation": 7, "depth": 1, "normals": 3}


def abstract_init(model, shape):
  x = jax.ShapeDtypeStruct((2, *shape, 3), jnp.float32)
  return jax.eval_shape(lambda x: model.init_with_output(jax.random.PRNGKey(0), x, train=False), x)


@pytest.mark.parametrize("shape,widths", [((16, 24), (4, 8)), ((32, 32), (4, 8, 8, 8)),
                                          ((24, 40), (4, 4, 8))])
def test_output_shapes(shape, widths):
  model = models.get("semboost", task_channels=TASKS, widths=widths, decoder_width=4)
  preds, _ = abstract_init(model, shape)
  assert {k: v.shape for k, v in preds.items()} == {k: (2, *shape, c) for k, c in TASKS.items()}


def test_partition_and_switches():
  def params(**kwargs):
    model = models.get("semboost", task_channels=TASKS, widths=(4, 8, 8, 8), decoder_width=4,
                       **kwargs)
    return abstract_init(model, (16, 16))[1]["params"]
  shared, specific = partition.split(params(), list(TASKS))
  # Three up-convolutions, an LSU between each two.
  assert set(shared) == {"shared_encoder", "lsu_0", "lsu_1"}
  assert {t: set(p) for t, p in specific.items()} == {t: {f"decoders_{t}"} for t in TASKS}
  assert set(specific["depth"]["decoders_depth"]) == {"ups_0", "ups_1", "ups_2", "reduce", "head"}
  assert set(params(lateral=False)) == {"shared_encoder"} | {f"decoders_{t}" for t in TASKS}
  assert "reduce" not in params(up_skip=False)["decoders_depth"]


def test_needs_depth_and_segmentation():
  model = models.get("semboost", task_channels={"segmentation": 7, "normals": 3}, widths=(4, 8))
  with pytest.raises(ValueError, match="depth"):
    abstract_init(model, (16, 16))


@pytest.fixture(scope="module")
def tiny():
  """Three stages: two up-convolutions joined by one LSU.

  Without normalisation, which halves the compiled programs here (the blocks'
  batch norm is ``ConvBlock``'s, synchronised and tested with the other networks).
  """
  return network_training.setup("semboost", widths=(4, 4, 4), decoder_width=4, norm="none")


def test_zero_lsus_leave_the_decoders_independent_and_learn(tiny):
  grads, _ = network_training.task_gradients(tiny)
  for t, s in (("depth", "segmentation"), ("segmentation", "depth")):
    norms = network_training.leaf_norms(grads[t])
    assert norms["shared_encoder"] > 0 and norms[f"decoders_{t}"] > 0
    assert norms[f"decoders_{s}"] == 0  # phi = gamma = 0: the identity path only.
  # Each cross weight gets a gradient from the task it feeds.
  assert grads["depth"]["lsu_0"]["phi_s"] != 0 and grads["depth"]["lsu_0"]["gamma_d"] == 0
  assert grads["segmentation"]["lsu_0"]["gamma_d"] != 0
  assert grads["segmentation"]["lsu_0"]["phi_s"] == 0


@pytest.mark.parametrize("level", task_grads.LEVELS)
def test_trains_data_parallel(tiny, level):
  final, history = network_training.two_steps(tiny, level)
  for metrics in history:
    assert all(np.isfinite(v) for v in metrics.values()), metrics
  for key, initial in tiny.state.params.items():
    assert network_training.changed(initial, final[key]), key
  assert all(final["lsu_0"][w] != 0 for w in ("phi_d", "phi_s", "gamma_d", "gamma_s"))
