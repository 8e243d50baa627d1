"""A tiny network's initial state and two data-parallel steps of the real ``train.train_step``.

Shared by the network tests: one initialisation serves the gradient checks at
initialisation and the training checks at both levels (each compiled program
costs seconds).
"""

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from mtl_jax import balancers
from mtl_jax import models
from mtl_jax import parallel
from mtl_jax import tasks as tasks_lib
from mtl_jax import train
from mtl_jax import train_state

H, W, NUM_CLASSES, BATCH = 16, 16, 5, 8


class Setup(NamedTuple):
  model: Any
  tasks: list
  balancer: Any
  tx: Any
  state: Any  # The initial TrainState, on the host.


def setup(name: str, **model_kwargs) -> Setup:
  """Segmentation and depth on ``network(name, **model_kwargs)``, IMTL-G, Adam."""
  tasks = [tasks_lib.get("segmentation", num_classes=NUM_CLASSES), tasks_lib.get("depth")]
  model = models.get(name, task_channels={t.name: t.channels for t in tasks},
                     axis_name=parallel.AXIS, **model_kwargs)
  balancer, tx = balancers.get("imtl_g", num_tasks=len(tasks)), optax.adam(1e-2)
  state = train_state.create(jax.random.PRNGKey(0), model, tasks, balancer, tx, (H, W, 3))
  return Setup(model, tasks, balancer, tx, jax.device_get(state))


def batch(seed):
  rng = np.random.default_rng(seed)
  return {"image": rng.integers(0, 256, (BATCH, H, W, 3)).astype(np.uint8),
          "segmentation": rng.integers(0, NUM_CLASSES, (BATCH, H, W)).astype(np.int32),
          "depth": rng.uniform(0.5, 5.0, (BATCH, H, W)).astype(np.float32)}


def task_gradients(s: Setup, capture=None):
  """``({task: d<pred_task, r_task>/d params}, intermediates)`` at initialisation.

  ``r_task`` is a fixed random cotangent; one forward pass (inference mode) and
  one pull-back per task (``jax.jacrev``) in one compiled program. The
  intermediates are the ``__call__`` outputs of the modules of type ``capture``.
  """
  x = jnp.asarray(batch(0)["image"][:2], jnp.float32) / 255
  cotangents = {t.name: jax.random.normal(jax.random.PRNGKey(2), (2, H, W, t.channels))
                for t in s.tasks}
  pick = (lambda m, _: isinstance(m, capture)) if capture else False

  @jax.jit
  def run(params, batch_stats):
    def sums(params):
      preds, state = s.model.apply({"params": params, "batch_stats": batch_stats}, x,
                                   train=False, capture_intermediates=pick,
                                   mutable=["intermediates"])
      return jnp.stack([(preds[t] * c).sum() for t, c in cotangents.items()]), state
    jacobian, state = jax.jacrev(sums, has_aux=True)(params)
    grads = {t: jax.tree_util.tree_map(lambda g, i=i: g[i], jacobian)
             for i, t in enumerate(cotangents)}
    return grads, state.get("intermediates", {})
  return jax.device_get(run(s.state.params, s.state.batch_stats))


def two_steps(s: Setup, level: str):
  """``(final params, [metrics of each step])`` after two steps on 8 devices.

  IMTL-G needs per-task gradients, so ``level`` picks the path the step takes:
  the shared parameters' gradients or the shared representation's.
  """
  dp = parallel.DataParallel("pmap", 8)
  step = dp.compile(functools.partial(train.train_step, model=s.model, tasks=s.tasks,
                                      balancer=s.balancer, tx=s.tx, level=level))
  state, history = dp.replicate(s.state), []
  for i in range(2):
    state, metrics = step(state, dp.shard_batch(batch(i)))
    history.append(jax.device_get(dp.unreplicate(metrics)))
  return jax.device_get(dp.unreplicate(state).params), history


def changed(a, b) -> bool:
  """Whether any leaf of two parameter trees differs."""
  return any(np.any(x != y) for x, y in zip(jax.tree_util.tree_leaves(a),
                                            jax.tree_util.tree_leaves(b)))


def leaf_norms(tree) -> dict:
  """``{top-level key: sum of |leaf|}``."""
  return {k: sum(float(np.abs(g).sum()) for g in jax.tree_util.tree_leaves(v))
          for k, v in tree.items()}
