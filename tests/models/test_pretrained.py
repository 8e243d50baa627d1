"""ImageNet weights into the encoders: the mapping (always) and torchvision's features (with torch).

The tests build a state dict in torchvision's key layout by hand from known
arrays, write it as .safetensors, load it and check every leaf landed where the
mapping says (kernels transposed, a VGG conv bias folded into the running mean),
that every copy of the encoder is loaded, that the backbone learning rate
applies, and that bad files and configs are named. test_pretrained_torchvision.py
compares the features with torchvision's own networks (when torch is installed).
"""


import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mtl_jax import backbone
from mtl_jax import build
from mtl_jax import cli
from mtl_jax import train_state
from mtl_jax.models import encoders
from mtl_jax.models import pretrained
from mtl_jax.models.blocks import input_norm


def _fake_state(encoder, names, rng):
  """A state dict in torchvision's layout for ``names`` (``pretrained.resnet_names`` or
  ``vgg_names``): the shapes the encoder needs in torch's axis order, random values."""
  shapes = jax.eval_shape(lambda: encoder.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)),
                                               train=False))
  params = shapes["params"]
  state = {}
  for ours, theirs, kind in names:
    node = params
    for part in ours:
      node = node[part]
    if kind.startswith("conv"):
      kh, kw, cin, cout = node["kernel"].shape
      state[f"{theirs}.weight"] = rng.normal(size=(cout, cin, kh, kw)).astype(np.float32)
      if kind == "conv_bias":
        state[f"{theirs}.bias"] = rng.normal(size=(cout,)).astype(np.float32)
    else:
      (c,) = node["scale"].shape
      for leaf in ("weight", "bias", "running_mean"):
        state[f"{theirs}.{leaf}"] = rng.normal(size=(c,)).astype(np.float32)
      state[f"{theirs}.running_var"] = rng.uniform(0.5, 2.0, size=(c,)).astype(np.float32)
      state[f"{theirs}.num_batches_tracked"] = np.array(7, np.int64)
  return state


def _leaf(tree, path):
  for part in path:
    tree = tree[part]
  return np.asarray(tree)


@pytest.mark.parametrize("name, widths, depths", [("resnet50_dilated", (8, 16, 16), (2, 1, 2)),
                                                  ("segnet", (4, 8, 8), (2, 2, 3))])
def test_mapping_puts_every_tensor_where_it_belongs(name, widths, depths, tmp_path):
  rng = np.random.default_rng(0)
  encoder = encoders.get(name, widths=widths, depths=depths)
  names = (pretrained.resnet_names(depths, widths) if name == "resnet50_dilated"
           else pretrained.vgg_names(depths))
  state = _fake_state(encoder, names, rng)
  state["fc.weight" if name == "resnet50_dilated" else "classifier.0.weight"] = np.ones((2, 2),
                                                                                          np.float32)
  path = str(tmp_path / "w.safetensors")
  pretrained.write_safetensors(state, path)
  loaded = pretrained.load(path)
  assert set(loaded) == set(state)
  params, stats = pretrained.encoder_weights(name, encoder, loaded, path)
  for ours, theirs, kind in names:
    if kind.startswith("conv"):
      np.testing.assert_array_equal(_leaf(params, ours + ("kernel",)),
                                    state[f"{theirs}.weight"].transpose(2, 3, 1, 0))
      if kind == "conv_bias":  # Folded into the batch norm that follows.
        bn = next(t for o, t, k in names if o == ours[:-1] + ("BatchNorm_0",))
        np.testing.assert_allclose(_leaf(stats, ours[:-1] + ("BatchNorm_0", "mean")),
                                   state[f"{bn}.running_mean"] - state[f"{theirs}.bias"])
    else:
      np.testing.assert_array_equal(_leaf(params, ours + ("scale",)), state[f"{theirs}.weight"])
      np.testing.assert_array_equal(_leaf(params, ours + ("bias",)), state[f"{theirs}.bias"])
      np.testing.assert_array_equal(_leaf(stats, ours + ("var",)), state[f"{theirs}.running_var"])
      if name == "resnet50_dilated":
        np.testing.assert_array_equal(_leaf(stats, ours + ("mean",)),
                                      state[f"{theirs}.running_mean"])

  # Errors name the keys.
  broken = dict(state)
  missing = next(iter(k for k in broken if k.endswith(".weight") and "fc" not in k))
  del broken[missing]
  broken["extra.layer.weight"] = np.zeros(3, np.float32)
  with pytest.raises(pretrained.PretrainedError, match=rf"missing {missing}.*unexpected "
                     r"extra.layer.weight"):
    pretrained.encoder_weights(name, encoder, broken, path)
  wide = encoders.get(name, widths=tuple(2 * w for w in widths), depths=depths)
  with pytest.raises(pretrained.PretrainedError, match=r"has shape .* in the file but"):
    pretrained.into({"shared_encoder": {}}, {}, name, wide, loaded, path)


def test_every_copy_of_the_encoder_is_loaded_and_the_rest_kept(tmp_path):
  config, _ = cli.load(["--config=configs/tiny.py", "--workdir=/tmp/w",
                        "--config.model.name=cross_stitch",
                        "--config.model.kwargs.encoder=resnet50_dilated",
                        "--config.model.kwargs.widths=(8, 16)", "--config.model.kwargs.depths=(1, 1)",
                        "--config.model.kwargs.input_norm=imagenet",
                        f"--config.model.pretrained={tmp_path / 'w.safetensors'}",
                        "--config.optimizer.backbone_lr_scale=0.1"])
  exp = build.experiment(config, with_data=False)
  name, encoder = backbone.encoder_of(exp.model)
  state = _fake_state(encoder, pretrained.resnet_names((1, 1), (8, 16)), np.random.default_rng(1))
  pretrained.write_safetensors(state, str(tmp_path / "w.safetensors"))
  init = train_state.create(jax.random.PRNGKey(0), exp.model, exp.tasks, exp.balancer, exp.tx,
                            (32, 32, 3))
  loaded = backbone.initialise(exp.config, exp.model, init)
  columns = [k for k in loaded.params if k.startswith("columns_")]
  assert len(columns) == 3  # One encoder per task, each from the file.
  for column in columns:
    np.testing.assert_array_equal(loaded.params[column]["stages_0"]["stem"]["kernel"],
                                  state["conv1.weight"].transpose(2, 3, 1, 0))
  others = [k for k in loaded.params if not k.startswith("columns_")]
  assert others
  for key in others:
    jax.tree_util.tree_map(np.testing.assert_array_equal, loaded.params[key], init.params[key])
  # The backbone's learning rate is a tenth of the rest's: one Adam step moves it a tenth as far.
  labels = backbone.labels(exp.model)(loaded.params)
  assert {labels[c]["stages_0"]["stem"]["kernel"] for c in columns} == {"backbone"}
  assert {v for k in others for v in jax.tree_util.tree_leaves(labels[k])} == {"rest"}
  grads = jax.tree_util.tree_map(jnp.ones_like, loaded.params)
  opt_state = exp.tx.init(loaded.params)
  for _ in range(config.schedule.warmup_steps + 1):
    updates, opt_state = exp.tx.update(grads, opt_state, loaded.params)
  stem = float(updates[columns[0]]["stages_0"]["stem"]["kernel"].ravel()[0])
  rest_leaf = float(jax.tree_util.tree_leaves(updates[others[0]])[0].ravel()[0])
  assert stem == pytest.approx(0.1 * rest_leaf, rel=1e-5) and rest_leaf != 0


def test_bad_files_are_named(tmp_path):
  with pytest.raises(pretrained.PretrainedError, match="no such file"):
    pretrained.load(str(tmp_path / "none.safetensors"))
  (tmp_path / "w.npz").write_bytes(b"x")
  with pytest.raises(pretrained.PretrainedError, match="unknown weights format"):
    pretrained.load(str(tmp_path / "w.npz"))
  (tmp_path / "bad.safetensors").write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00{nope")
  with pytest.raises(pretrained.PretrainedError, match="not a safetensors file"):
    pretrained.load(str(tmp_path / "bad.safetensors"))


def test_config_checks_name_the_keys():
  base = ["--config=configs/tiny.py", "--workdir=/tmp/w", "--config.model.pretrained=w.pth"]
  config, _ = cli.load(base)
  with pytest.raises(build.ConfigError, match="config.model.pretrained: ImageNet weights load"
                     " into encoders resnet50_dilated, segnet; the network's is 'conv'"):
    build.experiment(config, with_data=False)
  config, _ = cli.load(base + ["--config.model.kwargs.encoder=segnet"])
  with pytest.raises(build.ConfigError, match="input_norm=imagenet"):
    build.experiment(config, with_data=False)


def test_imagenet_input_norm():
  x = jnp.asarray(np.random.default_rng(0).uniform(size=(2, 4, 4, 3)), jnp.float32)
  want = (np.asarray(x) - np.array(input_norm.IMAGENET_MEAN)) / np.array(input_norm.IMAGENET_STD)
  np.testing.assert_allclose(input_norm.normalize(x, "imagenet"), want, rtol=1e-5, atol=1e-6)
  assert input_norm.normalize(x, "unit") is x
