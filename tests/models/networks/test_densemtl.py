"""DenseMTL: shapes, the zero-initialised cross-task term and its gradient, the task split."""

import jax
import jax.numpy as jnp
from tests.models import network_training
import numpy as np
import pytest

from mtl_jax import models
from mtl_jax import task_grads
from mtl_jax.models import XTAM, partition

TASKS = {"segmentation": 7, "depth": 1, "normals": 3}
PAIRS = (("depth", "segmentation"), ("segmentation", "depth"))  # (target, source)


def abstract_init(model, shape):
  x = jax.ShapeDtypeStruct((2, *shape, 3), jnp.float32)
  return jax.eval_shape(lambda x: model.init_with_output(jax.random.PRNGKey(0), x, train=False), x)


@pytest.mark.parametrize("shape,stages,pool", [
    ((16, 24), (1,), 2), ((32, 32), (0, 2), (4, 1)), ((24, 40), (1, 2), 8)])
def test_output_shapes(shape, stages, pool):
  model = models.get("densemtl", task_channels=TASKS, widths=(4, 8, 8), stages=stages, pool=pool)
  preds, _ = abstract_init(model, shape)
  assert {k: v.shape for k, v in preds.items()} == {k: (2, *shape, c) for k, c in TASKS.items()}


def test_partition_names_every_pair_module_after_its_target():
  model = models.get("densemtl", task_channels=TASKS, widths=(4, 8), stages=(0, 1))
  params = abstract_init(model, (16, 16))[1]["params"]
  shared, specific = partition.split(params, list(TASKS))
  assert set(shared) == {"shared_encoder"}
  for t, own in specific.items():
    assert set(own) == {f"decoders_{t}", f"exchange_stage0_{t}", f"exchange_stage1_{t}"}
    sources = sorted(set(TASKS) - {t})
    assert sorted(k for k in own[f"exchange_stage1_{t}"] if k.startswith("xtam_")) == [
        f"xtam_{s}" for s in sources]


@pytest.mark.parametrize("variant", ["official", "mtl_jax"])
def test_switches_drop_exactly_their_terms(variant):
  def names(**kwargs):
    model = models.get("densemtl", task_channels=TASKS, widths=(4, 8), variant=variant,
                       **kwargs)
    own = abstract_init(model, (16, 16))[1]["params"]["exchange_stage1_depth"]
    strip = lambda k: k.removesuffix("_norm").removesuffix("_segmentation").removesuffix(
        "_normals")
    return {strip(k) for k in own}
  assert names() == {"extract", "sa_features", "sa_gate", "xtam", "project"}
  assert names(cross_attention=False) == {"extract", "sa_features", "sa_gate", "project"}
  assert names(self_attention=False) == {"extract", "xtam", "project"}


def test_official_exchange_has_the_authors_blocks():
  """Extractor conv3x3 + ReLU (with a bias, no norm), SA with C/2 channels and no biases,
  a conv1x1-norm-ReLU projection per pair and one fusing them, xTAM's conv-norm-ReLU."""
  model = models.get("densemtl", task_channels=TASKS, widths=(4, 8))
  variables = abstract_init(model, (16, 16))[1]
  own = variables["params"]["exchange_stage1_depth"]
  c = 8
  assert own["extract_segmentation"]["kernel"].shape == (3, 3, c, c)
  assert "bias" in own["extract_segmentation"]
  assert own["sa_features_segmentation"]["kernel"].shape == (3, 3, c, c // 2)
  assert set(own["sa_gate_segmentation"]) == {"kernel"}
  assert own["project_segmentation"]["kernel"].shape == (1, 1, c // 2 + c, c)
  assert own["project"]["kernel"].shape == (1, 1, 2 * c, c)  # Two sources for depth.
  assert set(own["xtam_segmentation"]) == {"query", "query_norm", "key", "key_norm", "value",
                                           "value_norm", "scale"}
  assert "project_norm" in variables["batch_stats"]["exchange_stage1_depth"]


@pytest.mark.parametrize("kwargs,match", [
    (dict(stages=(2,)), "stages"), (dict(stages=(0, 0)), "stages"),
    (dict(pool=(2, 2)), "pool"), (dict(pool=0), "pool"),
    (dict(decoder_widths=(4,)), "decoder_widths"),
    (dict(self_attention=False, cross_attention=False), "self_attention or cross_attention")])
def test_bad_options_name_the_option(kwargs, match):
  model = models.get("densemtl", task_channels=TASKS, widths=(4, 8), **kwargs)
  with pytest.raises(ValueError, match=match):
    abstract_init(model, (16, 16))


@pytest.fixture(scope="module")
def tiny():
  """Segmentation and depth (two ordered pairs) on a one-stage network: small programs."""
  return network_training.setup("densemtl", widths=(4,), stages=(0,))


@pytest.fixture(scope="module")
def at_init(tiny):
  return network_training.task_gradients(tiny, capture=XTAM)


def test_cross_task_term_is_exactly_zero_at_initialisation(at_init):
  _, intermediates = at_init
  pairs = {(s.removeprefix("xtam_"), t.removeprefix("exchange_stage0_")): out["__call__"][0]
           for t, modules in intermediates.items() for s, out in modules.items()}
  assert sorted(pairs) == [("depth", "segmentation"), ("segmentation", "depth")]
  for pair, out in pairs.items():
    assert out.shape == (2, 16, 16, 4) and not np.any(out), pair


def test_cross_task_scale_receives_gradient(at_init):
  grads, _ = at_init
  for t, s in PAIRS:
    pair = grads[t][f"exchange_stage0_{t}"][f"xtam_{s}"]
    assert np.all(np.isfinite(pair["scale"])) and np.abs(pair["scale"]).max() > 0, (s, t)
    # The scale gates the attention: at zero its projections get no gradient yet.
    assert not np.any(pair["query"]["kernel"]), (s, t)


def test_a_prediction_depends_on_its_own_exchange_and_reads_the_other_decoder(at_init):
  grads, _ = at_init
  for t, s in PAIRS:
    norms = network_training.leaf_norms(grads[t])
    assert norms["shared_encoder"] > 0 and norms[f"decoders_{t}"] > 0
    assert norms[f"exchange_stage0_{t}"] > 0
    assert norms[f"exchange_stage0_{s}"] == 0  # The modules of pairs into s belong to s.
    assert norms[f"decoders_{s}"] > 0  # s's features reach t through the exchange.


@pytest.mark.parametrize("level", task_grads.LEVELS)
def test_trains_data_parallel(tiny, level):
  final, history = network_training.two_steps(tiny, level)
  for metrics in history:
    assert all(np.isfinite(v) for v in metrics.values()), metrics
  for key, initial in tiny.state.params.items():
    assert network_training.changed(initial, final[key]), key
  # The zero-initialised cross-task scales have left zero: the attention is learned in.
  for t, s in PAIRS:
    assert np.any(final[f"exchange_stage0_{t}"][f"xtam_{s}"]["scale"] != 0), (s, t)
