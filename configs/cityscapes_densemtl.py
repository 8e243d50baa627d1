"""DenseMTL on Cityscapes in Ji et al.'s setting, dilated ResNet-50 encoder.

    python -m mtl_jax.main --config=configs/cityscapes_densemtl.py \
        --workdir=/tmp/mtl_jax/cityscapes_densemtl

The setting: ``configs/paper_setting.py``.
Needs the Cityscapes dataset (``config.dataset.manual_dir``: see mtl_jax/data/cityscapes.py).

From ImageNet weights, as the field starts such ResNet encoders (a torchvision
``resnet50`` state dict; ``.pth`` needs torch, ``.safetensors`` does not)::

    python -m mtl_jax.main --config=configs/cityscapes_densemtl.py \
        --workdir=/tmp/mtl_jax/cityscapes_densemtl_imagenet \
        --config.model.pretrained=/data/resnet50.pth --config.model.kwargs.input_norm=imagenet \
        --config.optimizer.backbone_lr_scale=0.1
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
  # One exchange, as the official configs (their decoder's stage 1, 128 channels, its
  # attention at 1/8 of the input after pooling by 4): here the decoders' finest stage
  # (1/4, 128 channels) pooled by 2, the same 1/8 attention grid.
  config.model.kwargs.stages = (0,)
  config.model.kwargs.pool = 2
  return config
