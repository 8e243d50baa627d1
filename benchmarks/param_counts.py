"""Parameter counts of every network at the papers' settings, next to the published ones.

    python -m benchmarks.param_counts

Counts come from ``jax.eval_shape`` of each network's ``init`` (nothing is
allocated), built as the paper-setting configs build it: Cityscapes' two tasks
(7-class segmentation and depth) at 128x256, the model kwargs of
``configs/cityscapes_<name>.py`` (MTRAN's for the networks without such a
config). Published numbers: Ji et al., Sensors 2023 (MTRAN's tables, on
Cityscapes); VGG-16's 13 conv layers and ResNet-50 without its classifier for
the encoders. Prints a Markdown table; networks registered later (DenseMTL,
SemBoost) are counted too, with the kwargs of their Cityscapes config if one
exists.
"""

import importlib

import jax
import jax.numpy as jnp
import numpy as np

from mtl_jax import models
from mtl_jax.models import encoders

TASKS = {"segmentation": 7, "depth": 1}
IMAGE = (1, 128, 256, 3)


def _kwargs(name: str, backbone_of: str = "") -> dict:
  """``config.model.kwargs`` of ``configs/cityscapes_<name>.py``, else of MTRAN's, else {};
  with ``backbone_of``, the backbone of that network's config instead."""
  for config_name in ((backbone_of,) if backbone_of else (name, "mtran")):
    try:
      config = importlib.import_module(f"configs.cityscapes_{config_name}").get_config()
    except ModuleNotFoundError:
      continue
    kwargs = dict(config.model.kwargs)
    if config_name != name:  # Keep only the backbone of MTRAN's config.
      kwargs = {k: v for k, v in kwargs.items() if k in ("encoder", "widths", "depths", "norm")}
    return kwargs
  return {}


def count(module, *args) -> int:
  """Parameters of ``module``, traced only."""
  x = jax.ShapeDtypeStruct(IMAGE, jnp.float32)
  variables = jax.eval_shape(lambda x: module.init(jax.random.PRNGKey(0), x, *args), x)
  return sum(int(np.prod(p.shape)) for p in jax.tree_util.tree_leaves(variables["params"]))


def network(name: str, tasks=None, backbone_of: str = "", **overrides) -> int:
  kwargs = {**_kwargs(name, backbone_of), **overrides}
  return count(models.get(name, task_channels=tasks or TASKS, **kwargs), False)


def rows():
  """``(label, ours, paper)`` with counts in parameters (paper: None when not published)."""
  single = network("single_task", {"segmentation": 7})
  yield "MTRAN", network("mtran"), 16.05e6
  yield "MTRAN without attention", network("mtran", attention=False), 16.02e6
  yield "MTRAN remove residuals", network("mtran", residual=False), 16.05e6
  # Ji et al.'s multi-task network is MTRAN without its attention branches: same backbone.
  yield "Multi-task (hps, MTRAN's backbone)", network("hps", backbone_of="mtran"), 9.49e6
  yield "hps as configs/cityscapes_hps.py (conv encoder, VGG-16 widths)", network("hps"), None
  yield "Single-task (one task's network)", single, 9.45e6
  yield "Single-task (both networks)", network("single_task"), None
  yield "MTAN", network("mtan"), 41.21e6
  yield "Cross-stitch", network("cross_stitch"), 21.63e6
  for name in sorted(set(models.REGISTRY) - {"mtran", "hps", "single_task", "mtan",
                                             "cross_stitch"}):
    yield name, network(name), None
  vgg = encoders.get("segnet", widths=(64, 128, 256, 512, 512))
  # VGG-16's conv layers have a bias per channel where ours have batch norm's two.
  yield "encoder segnet (VGG-16 convs, batch norm)", count(vgg, False), 14_714_688 + 4_224
  resnet = encoders.get("resnet50_dilated", widths=(256, 512, 1024, 2048))
  yield "encoder resnet50_dilated", count(resnet, False), 25_557_032 - 2_049_000


def main():
  print("| network (Cityscapes, 2 tasks) | ours | Ji et al. / published |")
  print("|---|---:|---:|")
  for label, ours, paper in rows():
    published = "-" if paper is None else f"{paper / 1e6:.2f}M"
    print(f"| {label} | {ours / 1e6:.2f}M | {published} |")


if __name__ == "__main__":
  main()
