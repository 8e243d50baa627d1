"""Coupled decoders: one decode pulled back per task == a decode copy per task.

``train`` takes two paths to the per-task gradients: networks whose decoders
exchange features (``COUPLED_DECODERS``) decode once and pull back one-hot
cotangents; the others decode a copy per task. Both are exact for any network,
so the same network must take the same step either way, and the wrappers must
keep the wrapped network's choice.
"""

import jax
import numpy as np
import pytest

from tests.models import wrapper_training as wt
from mtl_jax import models
from mtl_jax import parallel


class PerCopy:
  """The same network, routed through the per-task-copy path of the step."""
  COUPLED_DECODERS = False

  def __init__(self, model):
    self._model = model

  def __getattr__(self, name):
    return getattr(self._model, name)


def _network(name, tasks):
  channels = {t.name: t.channels for t in tasks}
  return models.get(name, task_channels=channels, widths=(4, 8), axis_name=parallel.AXIS,
                    **({"decoder_width": 4} if name == "semboost" else {}))


@pytest.mark.parametrize("wrapper", ["hmsa", "self_regulation"])
def test_wrappers_keep_the_networks_choice(wrapper):
  tasks = wt.make_tasks()
  assert models.wrap(wrapper, _network("semboost", tasks)).COUPLED_DECODERS is True
  assert models.wrap(wrapper, _network("densemtl", tasks)).COUPLED_DECODERS is True
  assert models.wrap(wrapper, _network("hps", tasks)).COUPLED_DECODERS is False


def test_both_paths_take_the_same_step():
  # IMTL-G is nonlinear in the task gradients: a wrong split between tasks
  # changes its weights, not only the sum.
  tasks = wt.make_tasks()
  coupled = models.wrap("hmsa", _network("semboost", tasks))
  _, state_a, metrics_a, dp = wt.run(coupled, tasks, "imtl_g", "params", num_steps=1)
  _, state_b, metrics_b, _ = wt.run(PerCopy(coupled), tasks, "imtl_g", "params", num_steps=1)
  state_a, state_b = dp.unreplicate(state_a), dp.unreplicate(state_b)
  for key, value in metrics_a.items():
    np.testing.assert_allclose(metrics_b[key], value, rtol=2e-4, atol=1e-6, err_msg=key)
  weights = np.asarray(state_a.balancer_state.weights)
  assert not np.allclose(weights, weights[0])  # Not equal weights: the split matters.
  np.testing.assert_allclose(state_b.balancer_state.weights, weights, rtol=2e-4)
  jax.tree_util.tree_map_with_path(
      lambda path, a, b: np.testing.assert_allclose(
          b, a, rtol=2e-4, atol=1e-6, err_msg=jax.tree_util.keystr(path)),
      jax.device_get(state_a.params), jax.device_get(state_b.params))
