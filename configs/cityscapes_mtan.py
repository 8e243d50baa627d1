"""MTAN (Liu et al., CVPR 2019) on SegNet, on Cityscapes in Ji et al.'s setting.

    python -m mtl_jax.main --config=configs/cityscapes_mtan.py \
        --workdir=/tmp/mtl_jax/cityscapes_mtan

The setting: ``configs/paper_setting.py``.
Needs the Cityscapes dataset (``config.dataset.manual_dir``: see mtl_jax/data/cityscapes.py).

Weights start random, as in MTAN's code and the balancer papers that reuse its
setting (CAGrad, Nash-MTL, FAMO); ``config.model.pretrained`` loads ImageNet
weights into a full-width ``segnet`` encoder instead (docs/networks.md).
"""

from configs import default
from configs import paper_setting


def get_config():
  config = paper_setting.apply(default.get_config(), "cityscapes")
  config.model.name = "mtan"
  config.model.kwargs.encoder = "segnet"
  config.model.kwargs.widths = (64, 128, 256, 512, 512)  # VGG-16's five blocks.
  return config
