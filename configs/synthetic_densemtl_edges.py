"""DenseMTL's four tasks on synthetic scenes: segmentation, depth, normals and edges.

``configs/synthetic_densemtl.py`` with the edge task added (DenseMTL's
``SDNE`` set): two logits per pixel, the class-weighted cross-entropy of the
authors' code (edge weight ``tasks.edges.pos_weight`` 0.95) and their F1. The
synthetic scenes store edges that are right by construction (boundaries between
surfaces); on NYUv2 or Cityscapes the same config derives them from the
semantic labels (``tasks.edges.labels``).

    python -m mtl_jax.main --config=configs/synthetic_densemtl_edges.py \\
        --workdir=/tmp/mtl_jax/synthetic_densemtl_edges
"""

from configs import synthetic_densemtl


def get_config():
  config = synthetic_densemtl.get_config()
  config.tasks.names = ("segmentation", "depth", "normals", "edges")
  return config
