"""SemBoost on Cityscapes in Ji et al.'s setting, dilated ResNet-50 encoder.

    python -m mtl_jax.main --config=configs/cityscapes_semboost.py \
        --workdir=/tmp/mtl_jax/cityscapes_semboost

The setting: ``configs/paper_setting.py`` (depth and segmentation, the paper's
tasks; adding "normals" to ``config.tasks.names`` on NYUv2 gives normals a
plain decoder).
Needs the Cityscapes dataset (``config.dataset.manual_dir``: see mtl_jax/data/cityscapes.py).

From ImageNet weights, as the field starts such ResNet encoders (a torchvision
``resnet50`` state dict; ``.pth`` needs torch, ``.safetensors`` does not)::

    python -m mtl_jax.main --config=configs/cityscapes_semboost.py \
        --workdir=/tmp/mtl_jax/cityscapes_semboost_imagenet \
        --config.model.pretrained=/data/resnet50.pth --config.model.kwargs.input_norm=imagenet \
        --config.optimizer.backbone_lr_scale=0.1
"""

from configs import default
from configs import paper_setting


def get_config():
  config = paper_setting.apply(default.get_config(), "cityscapes")
  config.model.name = "semboost"
  config.model.kwargs.encoder = "resnet50_dilated"
  # ResNet-50's four bottleneck stages, finest first (1/4, then 1/8: output stride 8).
  config.model.kwargs.widths = (256, 512, 1024, 2048)
  config.model.kwargs.decoder_width = 128
  return config
