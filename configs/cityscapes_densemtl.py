"""DenseMTL on Cityscapes in Ji et al.'s setting, dilated ResNet-50 encoder.

    python -m mtl_jax.main --config=configs/cityscapes_densemtl.py \
        --workdir=/tmp/mtl_jax/cityscapes_densemtl

The setting: ``configs/paper_setting.py``.
Needs the Cityscapes dataset (``config.dataset.manual_dir``: see mtl_jax/data/cityscapes.py).
"""

from configs import default
from configs import paper_setting


def get_config():
  config = paper_setting.apply(default.get_config(), "cityscapes")
  config.model.name = "densemtl"
  config.model.kwargs.encoder = "resnet50_dilated"
  # ResNet-50's four bottleneck stages, finest first (1/4, then 1/8 with dilations
  # 1, 2, 4: output stride 8); the decoders' channels are kept smaller.
  config.model.kwargs.widths = (256, 512, 1024, 2048)
  config.model.kwargs.decoder_widths = (128, 256, 256, 256)
  # Exchange at two stages; pooling keeps each pair's attention at the same
  # size (e.g. 32x64 / 2 = 16x32 / 1 positions).
  config.model.kwargs.stages = (1, 2)
  config.model.kwargs.pool = (2, 1)
  return config
