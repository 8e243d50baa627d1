"""Per-task gradient scales over 1e-6..1e6: the methods that claim invariance keep it in float32.

IMTL-G equalises the projections on the unit task gradients, so its update's
direction depends on their directions only (IMTL and IMTL-RWL, which apply it
to scaled losses, too); Nash-MTL's update is invariant to each task's scale
(the Nash bargaining solution's invariance to affine maps of the utilities); MGDA with ``normalization="l2"`` finds its weights
on the unit gradients. Every check runs under ``jax.jit`` in float32 against
float64 NumPy.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mtl_jax import balancers
from mtl_jax.balancers import base

import balancer_inputs as inputs

DIM, CASES = 48, 12


def _cases(num_tasks: int, seed: int = 0):
  """``CASES`` Jacobians [T, DIM] whose task scales are drawn independently over 1e-6..1e6."""
  rng = np.random.default_rng(seed + num_tasks)
  directions = rng.normal(size=(CASES, num_tasks, DIM))
  scales = 10.0 ** rng.uniform(-6, 6, size=(CASES, num_tasks, 1))
  rescale = 10.0 ** rng.uniform(-6, 6, size=(CASES, num_tasks, 1))
  return (directions * scales).astype(np.float32), (directions * scales * rescale).astype(
      np.float32)


def imtl_g_closed_form(jac: np.ndarray, loss_scales=None) -> np.ndarray:
  """The coefficients on the raw rows: IMTL-G on ``c_t g_t``, ``alpha = G^-1 d / 1^T G^-1 d``
  (float64), times ``c_t``."""
  c = np.ones(len(jac)) if loss_scales is None else np.asarray(loss_scales, np.float64)
  g = c[:, None] * jac.astype(np.float64)
  v = np.linalg.solve(g @ g.T, np.linalg.norm(g, axis=1))
  return c * v / v.sum()


def _run(name, jacs, steps=1, **kwargs):
  """``steps`` updates on each Jacobian from a fresh state: (last updates, all states)."""
  b = balancers.get(name, num_tasks=jacs.shape[1], **kwargs)
  losses = jnp.linspace(0.5, 2.0, jacs.shape[1])

  @inputs.jit
  def run(jacs):
    def one(jac):
      states, state = [], b.init(None)
      for s in range(steps):
        updates, state = b.update(jac, state, task_losses=losses * (s + 1),
                                  key=jax.random.PRNGKey(s))
        states.append(state)
      return updates, states
    return jax.vmap(one)(jacs)
  return jax.device_get(run(jnp.asarray(jacs)))


@pytest.mark.parametrize("num_tasks", [2, 3, 5])
def test_imtl_family_matches_the_float64_closed_form(num_tasks):
  jacs, _ = _cases(num_tasks)
  _, states = _run("imtl_g", jacs)
  for i, jac in enumerate(jacs):
    np.testing.assert_allclose(states[0].weights[i], imtl_g_closed_form(jac), rtol=1e-5,
                               err_msg=f"imtl_g case {i}")
  _, states = _run("imtl_rwl", jacs)
  for i, jac in enumerate(jacs):
    lam = np.asarray(base.sample_dirichlet(jax.random.PRNGKey(0), 1.0, num_tasks))
    np.testing.assert_allclose(states[0].weights[i], imtl_g_closed_form(jac, lam), rtol=1e-5,
                               err_msg=f"imtl_rwl case {i}")
  _, states = _run("imtl", jacs, steps=2, learning_rate=0.5)
  for i, jac in enumerate(jacs):  # Step 2 uses the scales e^s learned in step 1.
    scales = np.exp(states[0].log_scales[i].astype(np.float64))
    assert not np.allclose(scales, 1.0)
    np.testing.assert_allclose(states[1].weights[i], imtl_g_closed_form(jac, scales), rtol=1e-5,
                               err_msg=f"imtl case {i}")


def _direction(u):
  u = np.asarray(u, np.float64)
  return u / np.linalg.norm(u, axis=-1, keepdims=True)


# method -> (kwargs, what is invariant to each task's gradient scale, relative tolerance)
INVARIANT = {
    "imtl_g": ({}, "direction", 1e-5),
    "imtl": ({}, "direction", 1e-5),
    "imtl_rwl": ({}, "direction", 1e-5),
    "nash_mtl": ({"max_norm": 0.0}, "update", 1e-4),
    "mgda": ({"normalization": "l2"}, "weights", 1e-4),
}


@pytest.mark.parametrize("name", sorted(INVARIANT))
@pytest.mark.parametrize("num_tasks", [2, 3, 5])
def test_invariance_to_each_tasks_gradient_scale(name, num_tasks):
  kwargs, what, rtol = INVARIANT[name]
  jacs, rescaled = _cases(num_tasks, seed=7)
  u1, s1 = _run(name, jacs, **kwargs)
  u2, s2 = _run(name, rescaled, **kwargs)
  for i in range(CASES):
    if what == "direction":
      got, want = _direction(u2[i]), _direction(u1[i])
      np.testing.assert_allclose(got, want, rtol=0, atol=rtol, err_msg=f"{name} case {i}")
    elif what == "update":
      scale = np.abs(np.asarray(u1[i], np.float64)).max()
      np.testing.assert_allclose(u2[i], u1[i], rtol=0, atol=rtol * scale, err_msg=f"{name} {i}")
    else:
      np.testing.assert_allclose(s2[0].weights[i], s1[0].weights[i], rtol=rtol, atol=1e-6,
                                 err_msg=f"{name} case {i}")
