"""``remat=True`` (``config.model.kwargs.remat``): the same parameters, outputs and gradients,
the stages' activations recomputed in the backward pass instead of kept."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mtl_jax import models


@pytest.mark.parametrize("name, options", [
    ("hps", {"widths": (4, 8)}),  # Every encoder rematerialises its stages the same way.
])
def test_remat_changes_nothing_but_what_is_kept(name, options):
  channels = {"segmentation": 3, "depth": 1}
  plain = models.get(name, task_channels=channels, **options)
  remat = models.get(name, task_channels=channels, remat=True, **options)
  x = jax.random.uniform(jax.random.PRNGKey(0), (2, 16, 16, 3))
  variables = plain.init(jax.random.PRNGKey(1), x, train=False)
  assert jax.tree_util.tree_structure(remat.init(jax.random.PRNGKey(1), x, train=False)) == (
      jax.tree_util.tree_structure(variables))

  def loss(model, params):
    out, _ = model.apply({**variables, "params": params}, x, train=True,
                         mutable=["batch_stats"])
    return sum(jnp.mean(jnp.square(v)) for v in out.values())
  grad_fns = [jax.jit(jax.grad(lambda p, m=m: loss(m, p))) for m in (plain, remat)]
  grads = [fn(variables["params"]) for fn in grad_fns]
  jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7),
                         *grads)
  # The backward pass recomputes the stages: the rematerialised program has more
  # convolutions than the plain one.
  plain_hlo, remat_hlo = (fn.lower(variables["params"]).as_text() for fn in grad_fns)
  assert remat_hlo.count("convolution(") > plain_hlo.count("convolution(")
