"""Tasks: what each one adds to the network (head size), its loss and metrics.

``get(name, **kwargs)`` builds one by name; see ``base`` for the interface.
Metric keys (units):

* ``segmentation``: ``miou``, ``pixel_acc`` (percent);
* ``depth``: ``abs_err``, ``rel_err`` (ground-truth units; ``rel_err`` a ratio);
* ``normals``: ``mean_angle``, ``median_angle`` (degrees), ``within_11.25``,
  ``within_22.5``, ``within_30`` (percent);
* ``edges``: ``f1`` (mean of the edge and background classes' F1, as DenseMTL
  reports it), ``edge_f1`` (percent).
"""

from mtl_jax.tasks.base import Batch, Task
from mtl_jax.tasks.depth import Depth
from mtl_jax.tasks.edges import Edges
from mtl_jax.tasks.normals import Normals
from mtl_jax.tasks.segmentation import Segmentation

# name -> task class. The one place task names resolve.
REGISTRY = {
    "segmentation": Segmentation,
    "depth": Depth,
    "normals": Normals,
    "edges": Edges,
}


def get(name: str, **kwargs) -> Task:
  """Builds the task registered as ``name``.

  >>> get("segmentation", num_classes=13).channels
  13
  """
  if name not in REGISTRY:
    raise KeyError(f"unknown task {name!r}; known: {', '.join(sorted(REGISTRY))}")
  return REGISTRY[name](**kwargs)
