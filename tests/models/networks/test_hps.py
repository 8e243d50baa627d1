"""The hard-sharing network: shapes, the shared/task split, encode/decode."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mtl_jax import models
from mtl_jax.models import partition

TASKS = {"segmentation": 7, "depth": 1, "normals": 3}


@pytest.mark.parametrize("shape", [(16, 24), (32, 32), (24, 40)])
def test_output_shapes(shape):
  model = models.get("hps", task_channels=TASKS, widths=(4, 8, 8))
  x = jnp.zeros((2, *shape, 3))
  variables = jax.eval_shape(lambda x: model.init(jax.random.PRNGKey(0), x, train=False), x)
  preds = jax.eval_shape(lambda v, x: model.apply(v, x, train=False), variables, x)
  assert {k: v.shape for k, v in preds.items()} == {
      k: (2, *shape, c) for k, c in TASKS.items()}


def test_encode_then_decode_is_call():
  model = models.get("hps", task_channels=TASKS, widths=(4, 8))
  x = jax.random.uniform(jax.random.PRNGKey(1), (2, 16, 16, 3))
  variables = model.init(jax.random.PRNGKey(0), x, train=False)
  features = model.apply(variables, x, train=False, method="encode")
  assert isinstance(features, tuple) and len(features) == 2
  two_step = model.apply(variables, features, train=False, method="decode")
  direct = model.apply(variables, x, train=False)
  for task in TASKS:
    np.testing.assert_array_equal(two_step[task], direct[task])


def test_partition_shared_and_task_parameters():
  model = models.get("hps", task_channels=TASKS, widths=(4, 8))
  params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 16, 16, 3)), train=False)["params"]
  shared, specific = partition.split(params, list(TASKS))
  assert set(shared) == {"shared_encoder"}
  assert {t: set(p) for t, p in specific.items()} == {t: {f"heads_{t}"} for t in TASKS}
  assert partition.merge(shared, specific).keys() == params.keys()


def test_a_task_head_depends_on_its_own_parameters_only():
  model = models.get("hps", task_channels=TASKS, widths=(4, 8), norm="group")
  x = jax.random.uniform(jax.random.PRNGKey(1), (2, 16, 16, 3))
  params = model.init(jax.random.PRNGKey(0), x, train=False)["params"]
  grads = jax.grad(lambda p: model.apply({"params": p}, x, train=False)["depth"].sum())(params)
  norms = {k: float(sum(jnp.abs(g).sum() for g in jax.tree_util.tree_leaves(v)))
           for k, v in grads.items()}
  assert norms["heads_segmentation"] == 0 and norms["heads_normals"] == 0
  assert norms["heads_depth"] > 0 and norms["shared_encoder"] > 0


def test_unknown_model_names_the_known_ones():
  with pytest.raises(KeyError, match="hps"):
    models.get("nope", task_channels=TASKS)
