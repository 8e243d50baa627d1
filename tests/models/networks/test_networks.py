"""Every registered network: shapes, and the shared/task-specific split.

The split is checked on gradients: a task's prediction must not depend on
another task's parameters (the training step gives task-specific parameters
their own loss's gradient only, so a leak would silently mistrain), and must
depend on its own and on every shared parameter. Shapes are traced
(``jax.eval_shape``), nothing compiled.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mtl_jax import models
from mtl_jax.models import partition

TASKS = {"segmentation": 5, "depth": 1, "normals": 3}
NAMES = ("hps", "mtran", "mtan", "cross_stitch", "single_task")
# Top-level parameter entries: (shared, task-specific with {t} for the task).
SPLITS = {
    "hps": ({"shared_encoder"}, {"heads_{t}"}),
    "mtran": ({"shared_encoder"}, {"branches_{t}"}),
    "mtan": ({"shared_encoder", "shared_decoder"} | {f"encoder_blocks_{j}" for j in range(3)}
             | {f"decoder_blocks_{j}" for j in range(3)}, {"attention_{t}"}),
    "cross_stitch": ({f"columns_{k}" for k in range(3)} | {f"stitches_{j}" for j in range(3)},
                     {"decoders_{t}"}),
    "single_task": (set(), {"networks_{t}"}),
}


def build(name, tasks=None, **kwargs):
  kwargs = {"encoder": "conv", "widths": (4, 8, 8), "norm": "none", **kwargs}
  return models.get(name, task_channels=tasks or TASKS, **kwargs)


def trace_init(model, shape):
  x = jax.ShapeDtypeStruct(shape, jnp.float32)
  return jax.eval_shape(lambda x: model.init(jax.random.PRNGKey(0), x, train=False), x)


def trace_apply(model, variables, shape):
  x = jax.ShapeDtypeStruct(shape, jnp.float32)
  preds = jax.eval_shape(lambda v, x: model.apply(v, x, train=False), variables, x)
  return {k: v.shape for k, v in preds.items()}


@pytest.mark.parametrize("name", NAMES)
def test_output_shapes_at_several_sizes(name):
  model = build(name)
  variables = trace_init(model, (1, 16, 16, 3))  # Shapes of parameters: size-independent.
  for hw in [(16, 24), (32, 16), (24, 40)]:
    assert trace_apply(model, variables, (2, *hw, 3)) == {
        k: (2, *hw, c) for k, c in TASKS.items()}, hw


@pytest.mark.parametrize("name", NAMES)
def test_output_shapes_with_a_strided_encoder(name):
  # A stride-4 finest feature and output stride 8: predictions are upsampled back.
  resnet = build(name, encoder="resnet50_dilated", widths=(8, 16, 16), depths=(1, 1, 1))
  assert trace_apply(resnet, trace_init(resnet, (1, 32, 32, 3)), (2, 32, 24, 3)) == {
      k: (2, 32, 24, c) for k, c in TASKS.items()}


@pytest.mark.parametrize("name", NAMES)
def test_partition_is_as_documented(name):
  variables = trace_init(build(name), (1, 16, 16, 3))
  shared, specific = partition.split(variables["params"], list(TASKS))
  want_shared, want_specific = SPLITS[name]
  assert set(shared) == want_shared
  assert {t: set(p) for t, p in specific.items()} == {
      t: {k.format(t=t) for k in want_specific} for t in TASKS}


# hps: tests/models/test_hps.py.
@pytest.mark.parametrize("name", ("mtran", "mtan", "cross_stitch", "single_task"))
def test_tasks_see_only_their_own_and_the_shared_parameters(name):
  tasks = {"segmentation": 3, "depth": 1}
  model = build(name, tasks, widths=(4, 8))
  rng = np.random.default_rng(0)
  x = rng.uniform(size=(1, 8, 8, 3)).astype(np.float32)
  params = jax.tree_util.tree_map(  # Random values from NumPy: no init program to compile.
      lambda s: (0.3 * rng.normal(size=s.shape)).astype(np.float32),
      trace_init(model, x.shape)["params"])
  cotangents = {t: rng.normal(size=(1, 8, 8, c)).astype(np.float32) for t, c in tasks.items()}

  @jax.jit
  def gradient_norms(params, x):
    def outputs(params):  # [T]: a random projection of each task's prediction
      preds = model.apply({"params": params}, x, train=False)
      return jnp.stack([jnp.sum(preds[t] * cotangents[t]) for t in tasks])
    jacobian = jax.jacrev(outputs)(params)  # Leaves [T, ...]: one backward pass, vmapped.
    return {k: jnp.stack([sum(jnp.sum(jnp.abs(l[i])) for l in jax.tree_util.tree_leaves(v))
                          for i in range(len(tasks))]) for k, v in jacobian.items()}

  norms = gradient_norms(params, x)
  for i, t in enumerate(tasks):
    for key, norm in norms.items():
      owner = partition.owner(key, list(tasks))
      if owner is None or owner == t:
        assert norm[i] > 0, (t, key)  # Every shared parameter reaches every task.
      else:
        assert norm[i] == 0, (t, key)  # Exactly: not even through rounding.


def test_unknown_model_names_the_known_ones():
  with pytest.raises(KeyError, match="cross_stitch"):
    models.get("nope", task_channels=TASKS)


FOUR_TASKS = {**TASKS, "edges": 2}
EVERY_NETWORK = {  # name -> options of a small instance.
    **{name: {} for name in NAMES},
    "densemtl": {"widths": (4, 8), "stages": (0, 1)},
    "semboost": {"widths": (4, 8, 8, 8), "decoder_width": 4},
}


@pytest.mark.parametrize("name", sorted(EVERY_NETWORK))
def test_every_network_takes_a_fourth_task(name):
  """DenseMTL's four tasks (edges: 2 logits): every network predicts each and splits per task."""
  kwargs = EVERY_NETWORK[name]
  if name in ("densemtl", "semboost"):
    model = models.get(name, task_channels=FOUR_TASKS, **kwargs)
  else:
    model = build(name, FOUR_TASKS, **kwargs)
  variables = trace_init(model, (1, 32, 32, 3))
  assert trace_apply(model, variables, (2, 32, 32, 3)) == {
      k: (2, 32, 32, c) for k, c in FOUR_TASKS.items()}
  _, specific = partition.split(variables["params"], list(FOUR_TASKS))
  assert set(specific) == set(FOUR_TASKS) and all(specific[t] for t in FOUR_TASKS)
