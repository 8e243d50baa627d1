"""MTRAN (Ji et al., Sensors 2023) with IMTL-RWL on NYUv2, in the paper's setting.

    python -m mtl_jax.main --config=configs/nyuv2_mtran.py \
        --workdir=/tmp/mtl_jax/nyuv2_mtran

The setting (``configs/paper_setting.py``): segmentation and depth, Adam at
1e-4, 200 epochs with the learning rate halved after 100.
Needs the NYUv2 dataset (``config.dataset.manual_dir``: see mtl_jax/data/nyuv2.py).

Weights start random, as in MTAN's code and the balancer papers that reuse its
setting (CAGrad, Nash-MTL, FAMO); ``config.model.pretrained`` loads ImageNet
weights into a full-width ``segnet`` encoder instead (docs/networks.md).
"""

from configs import default
from configs import paper_setting


def get_config():
  config = paper_setting.apply(default.get_config(), "nyuv2")
  config.model.name = "mtran"
  # The first four VGG-16 blocks (see mtl_jax/models/networks/mtran.py for the layer choices).
  config.model.kwargs.encoder = "segnet"
  config.model.kwargs.widths = (64, 128, 256, 512)
  config.model.kwargs.attention = True  # False: the paper's "without attention".
  config.model.kwargs.residual = True  # False: its "remove residuals".
  config.balancer.name = "imtl_rwl"  # Algorithm 1, on the shared feature's gradients.
  config.balancer.level = "features"
  return config
