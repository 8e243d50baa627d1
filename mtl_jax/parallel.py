"""Data parallelism: the only module that knows about devices and meshes.

The per-device step is written once with named-axis collectives over
``AXIS`` (``lax.psum(x, "data")``). ``DataParallel`` runs it on the local
devices either under ``jax.pmap`` or under ``jax.jit(jax.shard_map(...))`` over
a one-axis ``"data"`` mesh; both give the same result. Replicated arguments
(train state, accumulators) are identical on every device; the batch is split
along its leading axis.
"""

from typing import Any, Callable, Optional, Sequence

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

AXIS = "data"
MODES = ("pmap", "shard_map")


class DataParallel:
  """Runs a per-device function data-parallel over local devices.

  Args:
    mode: "pmap" or "shard_map".
    num_devices: how many local devices to use (default: all).

  Example:
    >>> import jax, jax.numpy as jnp, numpy as np
    >>> dp = DataParallel("shard_map", num_devices=1)
    >>> total = dp.compile(lambda s, b: s + jax.lax.psum(b.sum(), AXIS))
    >>> float(dp.unreplicate(total(dp.replicate(jnp.float32(1)), dp.shard_batch(np.ones(4)))))
    5.0
  """

  def __init__(self, mode: str = "pmap", num_devices: Optional[int] = None):
    if mode not in MODES:
      raise ValueError(f"unknown parallel mode {mode!r}; known: {', '.join(MODES)}")
    local = jax.local_devices()
    if num_devices is None:
      # Every device of every process: collectives then span all hosts.
      self.devices, self._pmap_devices = jax.devices(), None
    else:
      if not 1 <= num_devices <= len(local) or jax.process_count() > 1:
        raise ValueError(f"num_devices={num_devices} but {len(local)} local devices exist"
                         " (a subset is for single-process runs)")
      self.devices = self._pmap_devices = local[:num_devices]
    self.local_devices = [d for d in self.devices if d.process_index == jax.process_index()]
    self.mode = mode
    self.mesh = Mesh(np.array(self.devices), (AXIS,))
    self._local_mesh = Mesh(np.array(self.local_devices), (AXIS,))

  @property
  def num_devices(self) -> int:
    """Devices taking part in the collectives (over all processes)."""
    return len(self.devices)

  def compile(self, fn: Callable, batch_argnums: Sequence[int] = (1,),
              donate_argnums: Sequence[int] = ()) -> Callable:
    """Compiles per-device ``fn``: batch arguments split, the rest replicated.

    Every output of ``fn`` must be identical across devices (reduce with
    collectives first); outputs are returned replicated.
    """
    if self.mode == "pmap":
      return jax.pmap(fn, axis_name=AXIS, devices=self._pmap_devices,
                      donate_argnums=tuple(donate_argnums))

    def specs(num_args):
      return tuple(P(AXIS) if i in batch_argnums else P() for i in range(num_args))

    def wrapped(*args):
      mapped = jax.shard_map(fn, mesh=self.mesh, in_specs=specs(len(args)), out_specs=P())
      return mapped(*args)
    return jax.jit(wrapped, donate_argnums=tuple(donate_argnums))

  def replicate(self, tree: Any) -> Any:
    """Places a copy of ``tree`` on every device."""
    if self.mode == "pmap":
      n = len(self.local_devices)
      stacked = lambda x: np.broadcast_to(np.asarray(x), (n, *np.shape(x)))
      return jax.device_put(jax.tree_util.tree_map(stacked, tree),
                            NamedSharding(self._local_mesh, P(AXIS)))
    return jax.device_put(tree, NamedSharding(self.mesh, P()))

  def unreplicate(self, tree: Any) -> Any:
    """One copy of a replicated tree, on the host as NumPy arrays.

    Reads the first local device's replica only: nothing is compiled (an
    on-device ``x[0]`` would compile a gather per leaf shape) and one copy
    crosses to the host, also where the global array spans several processes.
    """
    def first(x):
      if not isinstance(x, jax.Array):
        return np.asarray(x)[0] if self.mode == "pmap" else np.asarray(x)
      local = np.asarray(x.addressable_shards[0].data)
      return local[0] if self.mode == "pmap" else local
    return jax.tree_util.tree_map(first, tree)

  def shard_batch(self, batch: Any) -> Any:
    """Splits this process's arrays ``[B, ...]`` over its devices along the batch axis.

    Under ``shard_map`` the result is one global array whose rows are every
    process's batches, in process order.
    """
    n = len(self.local_devices)
    def put(x):
      x = np.asarray(x)
      if x.shape[0] % n:
        raise ValueError(f"batch of {x.shape[0]} does not split over {n} local devices")
      if self.mode == "pmap":
        x = x.reshape(n, -1, *x.shape[1:])
        return jax.device_put(x, NamedSharding(self._local_mesh, P(AXIS)))
      return jax.make_array_from_process_local_data(NamedSharding(self.mesh, P(AXIS)), x)
    return jax.tree_util.tree_map(put, batch)


def varying(tree: Any, axis_name: str = AXIS) -> Any:
  """Marks values identical on every device as per-device values (no-op under pmap).

  Under ``shard_map`` the cotangent of a per-device output must be per-device,
  and differentiating with respect to replicated parameters would insert an
  implicit sum over devices; marking the parameters per-device keeps every
  gradient local until the explicit ``psum`` (the same program as under pmap).
  """
  return jax.lax.pcast(tree, axis_name, to="varying")


def first_process_first(fn: Callable[[], Any]) -> Any:
  """``fn()`` on process 0, then, once it has returned or raised, on the other processes.

  For work that must happen once before every process can do it cheaply
  (building a dataset: the others then find it built). A failure on process 0
  is raised there after the others are released, so each of them meets the
  same problem itself and reports it. One process: just ``fn()``.
  """
  if jax.process_count() == 1:
    return fn()
  if jax.process_index() == 0:
    try:
      return fn()
    finally:
      multihost_utils.sync_global_devices("mtl_jax: first process done")
  multihost_utils.sync_global_devices("mtl_jax: first process done")
  return fn()


def initialize_distributed(coordinator_address: Optional[str] = None,
                           num_processes: Optional[int] = None,
                           process_id: Optional[int] = None) -> None:
  """Connects the processes of a multi-host run (``jax.distributed.initialize``).

  Call once per process before anything else touches the devices. What is
  None is auto-detected by JAX from a cluster's environment (Slurm, Open MPI,
  Cloud TPU; the coordinator address also from ``JAX_COORDINATOR_ADDRESS``);
  anywhere else give all three, e.g. two processes on one machine:
  ``coordinator_address="127.0.0.1:1234", num_processes=2, process_id=0``
  (and ``1`` in the second).
  """
  given = {"coordinator_address": coordinator_address, "num_processes": num_processes,
           "process_id": process_id}
  jax.distributed.initialize(**{k: v for k, v in given.items() if v is not None})
