"""The Self-Regulation wrapper: exits in training only, parameters, a short training run."""

import jax
import numpy as np
import pytest

from tests.models import wrapper_training as wt
from mtl_jax import models
from mtl_jax.models import partition
from mtl_jax.models import interface as stages


@pytest.fixture(scope="module")
def trained():
  """Two steps of the real data-parallel step, the SR terms on from the second."""
  tasks = wt.make_tasks(sr_warmup_steps=1)
  network = wt.make_network(tasks)
  model = models.wrap("self_regulation", network, exit_width=4)
  initial, state, metrics, dp = wt.run(model, tasks, "ew", "params")
  return network, model, initial, jax.device_get(dp.unreplicate(state)), metrics


def test_two_training_steps(trained):
  _, _, initial, final, metrics = trained
  assert int(final.step) == 2
  assert all(np.isfinite(v) for v in metrics.values()), metrics
  assert all(wt.changed(initial.params, final.params).values())
  assert wt.changed(initial.batch_stats, final.batch_stats)["sr_exits_segmentation"]
  # The Self-Regulation loss (MEA over 3 outputs + SR terms) exceeds one cross-entropy (~log 5).
  assert metrics["loss/segmentation"] > np.log(wt.NUM_CLASSES)


def test_inference_is_the_plain_network_and_exits_belong_to_segmentation(trained):
  network, model, _, final, _ = trained
  variables = {"params": final.params, "batch_stats": final.batch_stats}
  plain_variables = {c: {k: v for k, v in variables[c].items() if k != "sr_exits_segmentation"}
                     for c in variables}
  x = jax.random.uniform(jax.random.PRNGKey(1), (2, wt.H, wt.W, 3))
  wrapped, plain = jax.jit(lambda v, p: (model.apply(v, x, train=False),
                                         network.apply(p, x, train=False)))(
                                             variables, plain_variables)
  for task in ("segmentation", "depth"):
    np.testing.assert_array_equal(wrapped[task], plain[task])
  shared, specific = partition.split(variables["params"], ["segmentation", "depth"])
  assert set(shared) == {"shared_encoder"}
  assert set(specific["segmentation"]) == {"heads_segmentation", "sr_exits_segmentation"}
  # One exit per encoder stage, a classifier of the main output, one projection per deeper stage.
  assert sorted(variables["params"]["sr_exits_segmentation"]) == [
      "Conv_0", "Dense_0", "ExitHead_0", "ExitHead_1"]


def test_a_representation_without_stages_is_a_clear_error():
  with pytest.raises(TypeError, match=r"Dict, not a tuple of per-stage feature maps .*"
                                      r"define stage_features\(representation\)"):
    stages.stage_features(Dict(), Dict())


class Dict(dict):
  """A stand-in network and representation without per-stage features."""
