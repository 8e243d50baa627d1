"""Shared inputs for the balancer tests: families of Jacobians and cached jitted runs.

Compilation dominates the suite's time, so every method is compiled once per
task count: ``t3(name)`` runs all the T = 3 families, their task
permutations and a pytree version of them in one jitted call, and ``t2(name)``
runs the T = 2 batch (torchjd's golden Jacobian and random pairs). The
specific tests read these cached results.
"""

import functools
from typing import Any, NamedTuple

import jax
import numpy as np

from mtl_jax import balancers

# The Jacobian of torchjd's golden-value tests (tests/unit/aggregation/test_values.py).
J_BASE = np.array([[-4.0, 1.0, 1.0], [6.0, 1.0, 1.0]], np.float32)

NUM_TASKS, DIM, STEPS = 3, 5, 3
PERM = np.array([2, 0, 1])
KEY = jax.random.PRNGKey(42)
# Compiling without LLVM optimisations: these programs are tiny and run once.
_COMPILER_OPTIONS = {"xla_backend_optimization_level": 0}

# Methods that draw random numbers whose effect depends on the task order.
RANDOM_ORDER = {
    "pcgrad": "a fresh random projection order per task: not equivariant for T > 2"
              " (T = 2 is checked in test_pcgrad)",
    "rlw": "i.i.d. random weights: the draw for task t does not follow t",
    "imtl_rwl": "i.i.d. Dirichlet loss weights: the draw for task t does not follow t",
}
# Methods whose randomness depends on the pytree structure.
PER_LEAF_RANDOM = {
    "graddrop": "draws U leaf by leaf, so a dict and its concatenation see different U"
                " (the per-leaf rule is checked in test_graddrop)",
}
# (method, family) -> (relative tolerance, reason) where float32 cannot do better.
LOOSE = {
    ("nash_mtl", "colinear_opposite"): (
        2e-3, "no Nash solution exists (g_2 = -2 g_1): alpha ~ reg_eps^-1/2 ~ 1e4 and the"
              " combination cancels in float32"),
}


def _families() -> dict[str, np.ndarray]:
  """Named [T, D] Jacobians: random, zero rows, rank-deficient, extreme scales."""
  rng = np.random.default_rng(0)
  normal = lambda: rng.normal(size=(NUM_TASKS, DIM)).astype(np.float32)
  out = {"random": normal(), "random_conflicting": normal()}
  out["random_conflicting"][1] = -out["random_conflicting"][0] + 0.3 * normal()[0]
  out["random_2"] = normal()
  out["zero_row"] = normal()
  out["zero_row"][1] = 0.0
  out["all_zero"] = np.zeros((NUM_TASKS, DIM), np.float32)
  out["duplicated"] = normal()
  out["duplicated"][2] = out["duplicated"][0]
  out["colinear_opposite"] = normal()
  out["colinear_opposite"][1] = -2.0 * out["colinear_opposite"][0]
  out["colinear_same"] = normal()
  out["colinear_same"][2] = 3.0 * out["colinear_same"][0]
  out["scale_1e-8"] = 1e-8 * normal()
  out["scale_1e8"] = 1e8 * normal()
  return out


FAMILIES = _families()
FAMILY_NAMES = list(FAMILIES)
FULL_RANK = ("random", "random_conflicting", "random_2", "scale_1e-8", "scale_1e8")
LOSSES = np.random.default_rng(1).uniform(
    0.2, 3.0, size=(len(FAMILIES), STEPS, NUM_TASKS)).astype(np.float32)


def _t2_batch() -> np.ndarray:
  rng = np.random.default_rng(2)
  pairs = [J_BASE]
  for _ in range(5):
    a, b = rng.normal(size=(2, 3)).astype(np.float32)
    b = b - (1.5 + abs(a @ b)) * a / (a @ a)  # make them conflict: <a, b> < 0
    pairs.append(np.stack([a, b]))
  pairs.append(rng.normal(size=(2, 3)).astype(np.float32))
  pairs = np.stack(pairs)
  return np.concatenate([pairs, pairs[:, ::-1]])


T2_BATCH = _t2_batch()  # [14, 2, 3]: 7 pairs, then the same with the tasks swapped
T2_PAIRS = len(T2_BATCH) // 2  # T2_BATCH[0] is J_BASE; the last pair is unconstrained


def to_tree(flat: np.ndarray) -> dict[str, np.ndarray]:
  """[..., T, 5] -> {"a": [..., T, 2, 2], "b": [..., T, 1]}, the same numbers."""
  return {"a": flat[..., :4].reshape(flat.shape[:-1] + (2, 2)), "b": flat[..., 4:]}


def from_tree(tree: dict[str, Any]) -> np.ndarray:
  a = np.asarray(tree["a"])
  return np.concatenate([a.reshape(a.shape[:-2] + (4,)), np.asarray(tree["b"])], axis=-1)


def _run_batch(b, grads, losses, key):
  """vmap over the batch of: S updates from a fresh state -> (last updates, weights, state)."""
  def one(task_grads, seq_losses):
    def step(state, xs):
      step_losses, step_key = xs
      updates, state = b.update(task_grads, state, task_losses=step_losses, key=step_key)
      return state, (updates, state.weights)
    keys = jax.random.split(key, seq_losses.shape[0])
    state, (updates, weights) = jax.lax.scan(step, b.init(None), (seq_losses, keys))
    return jax.tree_util.tree_map(lambda u: u[-1], updates), weights, state
  return jax.vmap(one)(grads, losses)


class T3Result(NamedTuple):
  updates: np.ndarray  # [F, D]
  weights: np.ndarray  # [F, S, T]
  state: Any  # final states, batched over F
  perm_updates: np.ndarray  # [F, D] on the task-permuted families
  perm_weights: np.ndarray  # [F, S, T]
  tree_updates: np.ndarray  # [F, D]: the dict version, concatenated back
  tree_weights: np.ndarray  # [F, S, T]


@functools.lru_cache(maxsize=None)
def t3(name: str) -> T3Result:
  """Every T = 3 family, its permutation and its pytree version, in one compilation."""
  b = balancers.get(name, num_tasks=NUM_TASKS)
  jac = np.stack([FAMILIES[f] for f in FAMILY_NAMES])

  @functools.partial(jax.jit, compiler_options=_COMPILER_OPTIONS)
  def run(flat, perm, tree, losses, perm_losses):
    return (_run_batch(b, flat, losses, KEY), _run_batch(b, perm, perm_losses, KEY),
            _run_batch(b, tree, losses, KEY))

  (u, w, s), (pu, pw, _), (tu, tw, _) = run(jac, jac[:, PERM], to_tree(jac), LOSSES,
                                             LOSSES[:, :, PERM])
  return T3Result(np.asarray(u), np.asarray(w), jax.device_get(s), np.asarray(pu),
                  np.asarray(pw), from_tree(tu), np.asarray(tw))


@functools.lru_cache(maxsize=None)
def t2(name: str, **kwargs) -> tuple[np.ndarray, np.ndarray, Any]:
  """One update on each Jacobian of ``T2_BATCH``: (updates [N, 3], weights [N, T], states)."""
  b = balancers.get(name, num_tasks=2, **kwargs)
  losses = np.ones((len(T2_BATCH), 1, 2), np.float32)
  run = jax.jit(lambda g, l: _run_batch(b, g, l, KEY), compiler_options=_COMPILER_OPTIONS)
  updates, weights, state = run(T2_BATCH, losses)
  return np.asarray(updates), np.asarray(weights)[:, 0], jax.device_get(state)


def jit(fun):
  """``jax.jit`` with the suite's compiler options."""
  return jax.jit(fun, compiler_options=_COMPILER_OPTIONS)


def index(name: str) -> int:
  return FAMILY_NAMES.index(name)
