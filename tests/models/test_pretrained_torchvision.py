"""ImageNet weights against torchvision: the same features from the same state dict.

Runs when torch and torchvision import (``pip install -e ".[pretrained]"``):
torchvision's ResNet-50 (``replace_stride_with_dilation=[False, True, True]``,
as LibMTL and the MTAN code dilate it) and VGG-16-BN with random weights and
random batch-norm statistics are saved (``.pth`` and ``.safetensors``), loaded
into mtl_jax's ``resnet50_dilated`` and ``segnet`` encoders, and every stage's
features compared in evaluation mode on ImageNet-normalised images.
"""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mtl_jax.models import encoders
from mtl_jax.models import pretrained
from mtl_jax.models.blocks import input_norm

torch = pytest.importorskip("torch", reason="the torchvision equivalence needs torch")
torchvision = pytest.importorskip("torchvision")


def _randomise_batch_norm(module, generator):
  for m in module.modules():
    if isinstance(m, torch.nn.BatchNorm2d):
      with torch.no_grad():
        m.running_mean.copy_(torch.randn(m.num_features, generator=generator) * 0.1)
        m.running_var.copy_(torch.rand(m.num_features, generator=generator) + 0.5)
        m.weight.copy_(torch.rand(m.num_features, generator=generator) + 0.5)
        m.bias.copy_(torch.randn(m.num_features, generator=generator) * 0.1)


@pytest.mark.parametrize("name", ["resnet50_dilated", "segnet"])
@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_features_equal_torchvision(name, suffix, tmp_path):
  generator = torch.Generator().manual_seed(0)
  torch.manual_seed(0)
  if name == "resnet50_dilated":
    net = torchvision.models.resnet50(weights=None, replace_stride_with_dilation=[False, True, True])
    widths = (256, 512, 1024, 2048)
  else:
    net = torchvision.models.vgg16_bn(weights=None)
    widths = (64, 128, 256, 512, 512)
  _randomise_batch_norm(net, generator)
  net.eval()
  path = str(tmp_path / f"weights{suffix}")
  if suffix == ".pth":
    torch.save(net.state_dict(), path)
  else:
    pretrained.write_safetensors({k: v.numpy() for k, v in net.state_dict().items()}, path)

  images = np.random.default_rng(0).uniform(size=(2, 64, 96, 3)).astype(np.float32)
  x = torch.from_numpy(((images - input_norm.IMAGENET_MEAN) / input_norm.IMAGENET_STD)
                       .astype(np.float32).transpose(0, 3, 1, 2))
  with torch.no_grad():
    if name == "resnet50_dilated":
      y = net.maxpool(net.relu(net.bn1(net.conv1(x))))
      want = []
      for layer in (net.layer1, net.layer2, net.layer3, net.layer4):
        y = layer(y)
        want.append(y)
    else:
      want, y = [], x
      for layer in net.features:
        if isinstance(layer, torch.nn.MaxPool2d):
          want.append(y)
        y = layer(y)
  want = [w.numpy().transpose(0, 2, 3, 1) for w in want]

  encoder = encoders.get(name, widths=widths, input_norm="imagenet")
  variables = jax.eval_shape(lambda: encoder.init(jax.random.key(0), jnp.zeros((1, 64, 96, 3)),
                                                  train=False))
  params, stats, paths = pretrained.into({"enc": variables["params"]},
                                         {"enc": variables["batch_stats"]}, name, encoder,
                                         pretrained.load(path), path)
  assert paths == [("enc",)]
  got = jax.jit(lambda v, x: encoder.apply(v, x, train=False))(
      {"params": params["enc"], "batch_stats": stats["enc"]}, jnp.asarray(images))
  assert len(got) == len(want)
  for stage, (g, w) in enumerate(zip(got, want)):
    assert g.shape == w.shape, stage
    scale = float(np.abs(w).max())
    np.testing.assert_allclose(np.asarray(g) / scale, w / scale, atol=2e-5,
                               err_msg=f"{name} stage {stage}")
  report = {"name": name, "suffix": suffix,
            "max_abs_diff_over_max": [float(np.abs(np.asarray(g) - w).max() / np.abs(w).max())
                                      for g, w in zip(got, want)]}
  print(json.dumps(report))
