"""Gradient balancers: optax-style transformations over per-task gradients.

``get(name, num_tasks=T, **kwargs)`` builds one by name; each method also has its
own factory (``mtl_jax.balancers.ew``). See ``base`` for the interface.
"""

from mtl_jax.balancers.aligned_mtl import aligned_mtl
from mtl_jax.balancers.base import (Balancer, combine, gramian, gramian_weighting, loss_weighting,
                                    num_tasks_of)
from mtl_jax.balancers.cagrad import cagrad
from mtl_jax.balancers.dwa import dwa
from mtl_jax.balancers.ew import ew
from mtl_jax.balancers.famo import famo
from mtl_jax.balancers.gls import gls
from mtl_jax.balancers.graddrop import graddrop
from mtl_jax.balancers.imtl import imtl
from mtl_jax.balancers.imtl_g import imtl_g
from mtl_jax.balancers.imtl_l import imtl_l
from mtl_jax.balancers.imtl_rwl import imtl_rwl
from mtl_jax.balancers.mgda import mgda
from mtl_jax.balancers.nash_mtl import nash_mtl
from mtl_jax.balancers.pcgrad import pcgrad
from mtl_jax.balancers.rlw import rlw
from mtl_jax.balancers.upgrad import upgrad
from mtl_jax.balancers.uw import uw

# name -> factory(num_tasks, **kwargs). The one place balancer names resolve.
REGISTRY = {
    "ew": ew,
    # Loss weightings (one backward pass of sum_t w_t L_t).
    "uw": uw,
    "dwa": dwa,
    "rlw": rlw,
    "gls": gls,
    "famo": famo,
    "imtl_l": imtl_l,
    # Gradient methods (per-task gradients).
    "imtl_g": imtl_g,
    "imtl": imtl,
    "imtl_rwl": imtl_rwl,
    "mgda": mgda,
    "pcgrad": pcgrad,
    "cagrad": cagrad,
    "graddrop": graddrop,
    "nash_mtl": nash_mtl,
    "aligned_mtl": aligned_mtl,
    "upgrad": upgrad,
}


def get(name: str, num_tasks: int, **kwargs) -> Balancer:
  """Builds the balancer registered as ``name`` for ``num_tasks`` tasks."""
  if name not in REGISTRY:
    raise KeyError(f"unknown balancer {name!r}; known: {', '.join(sorted(REGISTRY))}")
  return REGISTRY[name](num_tasks=num_tasks, **kwargs)
