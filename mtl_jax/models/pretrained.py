"""ImageNet weights for the encoders, from the files users have: torchvision state dicts.

``config.model.pretrained`` names a file; ``load(path)`` reads it and
``into(variables, encoder, weights)`` writes its weights into every copy of the
encoder in a network's variables (the shared encoder, or each column of
cross-stitch and each network of ``single_task``), leaving the rest as
initialised.

Files: a torchvision ``state_dict`` saved with ``torch.save`` (``.pth``/``.pt``,
read with torch when it is installed: ``torch.load(weights_only=True)``) or
the same tensors as ``.safetensors`` (read here with NumPy, no torch).
Architectures, the keys torchvision gives them:

* ``resnet50_dilated``: ``torchvision.models.resnet50`` (any
  ``replace_stride_with_dilation``: dilation has no weights): ``conv1``,
  ``bn1``, ``layer{1..4}.{b}.conv{1,2,3}``/``bn{1,2,3}``,
  ``layer{s}.0.downsample.{0,1}``; ``fc.*`` (the classifier) is not used;
* ``segnet``: ``torchvision.models.vgg16_bn``: ``features.{i}`` for the 13
  convolutions and their batch norms in order; ``classifier.*`` is not used.
  Its convolutions have biases where ours (followed by batch norm) have none:
  a bias ``b`` is folded into the running mean (``mean - b``), exactly the same
  function in evaluation and in training (batch norm subtracts the batch mean).

Kernels go from torch's ``[out, in, kh, kw]`` to ``[kh, kw, in, out]``; batch
norm ``weight, bias, running_mean, running_var`` to ``scale, bias, mean, var``
(the same epsilon, 1e-5). A key the encoder needs and the file lacks, a key of
the file the encoder has no place for (besides the classifier and
``num_batches_tracked``), or a shape that differs raises ``PretrainedError``
naming each. The widths and depths must be the architecture's full ones
(``(256, 512, 1024, 2048)`` and ``(3, 4, 6, 3)``; VGG-16's ``(64, 128, 256,
512, 512)``), and ``config.model.kwargs.input_norm="imagenet"`` gives the
encoder the input those weights expect.
"""

import json
import os
import re
import struct
from typing import Any, Mapping

import numpy as np

ARCHITECTURES = ("resnet50_dilated", "segnet")
UNUSED = {"resnet50_dilated": re.compile(r"^fc\.|num_batches_tracked$"),
          "segnet": re.compile(r"^classifier\.|num_batches_tracked$")}
_SAFETENSORS_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64,
                       "BF16": None, "I64": np.int64, "I32": np.int32}


class PretrainedError(ValueError):
  """A weights file that does not read or does not fit the encoder; the message names it."""


def read_safetensors(path: str) -> dict[str, np.ndarray]:
  """The tensors of a ``.safetensors`` file (an 8-byte header length, a JSON header, data)."""
  with open(path, "rb") as f:
    raw = f.read()
  try:
    (size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + size])
  except (struct.error, ValueError) as e:
    raise PretrainedError(f"{path}: not a safetensors file ({e})") from e
  data = raw[8 + size:]
  tensors = {}
  for name, entry in header.items():
    if name == "__metadata__":
      continue
    dtype = _SAFETENSORS_DTYPES.get(entry["dtype"])
    if dtype is None:
      raise PretrainedError(f"{path}: {name} has dtype {entry['dtype']}, which mtl_jax does not"
                            " read; save it as float32")
    start, end = entry["data_offsets"]
    tensors[name] = np.frombuffer(data[start:end], dtype).reshape(entry["shape"]).copy()
  return tensors


def write_safetensors(tensors: Mapping[str, np.ndarray], path: str) -> None:
  """Writes float32/float64/int arrays as a ``.safetensors`` file (the format ``read_safetensors``
  and the safetensors library read)."""
  names = {np.dtype(np.float32): "F32", np.dtype(np.float64): "F64", np.dtype(np.float16): "F16",
           np.dtype(np.int64): "I64", np.dtype(np.int32): "I32"}
  header, chunks, offset = {}, [], 0
  for name, value in tensors.items():
    value = np.ascontiguousarray(value)
    blob = value.tobytes()
    header[name] = {"dtype": names[value.dtype], "shape": list(value.shape),
                    "data_offsets": [offset, offset + len(blob)]}
    chunks.append(blob)
    offset += len(blob)
  encoded = json.dumps(header).encode()
  encoded += b" " * (-len(encoded) % 8)
  with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(encoded)) + encoded + b"".join(chunks))


def load(path: str) -> dict[str, np.ndarray]:
  """The state dict in ``path`` as NumPy arrays (``.safetensors``, or ``.pth``/``.pt`` with torch)."""
  if not os.path.isfile(path):
    raise PretrainedError(f"{path}: no such file (config.model.pretrained)")
  if path.endswith(".safetensors"):
    return read_safetensors(path)
  if path.endswith((".pth", ".pt", ".bin")):
    try:
      import torch  # pylint: disable=g-import-not-at-top
    except ImportError as e:
      raise PretrainedError(f"{path}: reading a torch file needs torch (pip install torch), or"
                            " save the state dict as .safetensors") from e
    try:
      state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pylint: disable=broad-except
      raise PretrainedError(f"{path}: torch.load failed ({type(e).__name__}: {e})") from e
    if isinstance(state, Mapping) and "state_dict" in state:
      state = state["state_dict"]
    if not isinstance(state, Mapping):
      raise PretrainedError(f"{path}: expected a state dict, got {type(state).__name__}")
    return {k: v.detach().cpu().float().numpy() if v.is_floating_point() else v.numpy()
            for k, v in state.items()}
  raise PretrainedError(f"{path}: unknown weights format; expected .safetensors, .pth or .pt")


def _conv(weight: np.ndarray) -> np.ndarray:
  return np.transpose(weight, (2, 3, 1, 0))


def resnet_names(depths, widths=None) -> list[tuple[tuple[str, ...], str, str]]:
  """``(our path, torch prefix, kind)`` of every layer of a ResNet-50 body; kind "conv" or "bn".

  A stage's first block has a projection shortcut (``downsample``) where it
  strides or changes the width (every stage of ResNet-50; ``widths`` None).

  >>> resnet_names((1,))[:3]  # doctest: +NORMALIZE_WHITESPACE
  [(('stages_0', 'stem'), 'conv1', 'conv'), (('stages_0', 'stem_norm'), 'bn1', 'bn'),
   (('stages_0', 'Bottleneck_0', 'Conv_0'), 'layer1.0.conv1', 'conv')]
  """
  names = [(("stages_0", "stem"), "conv1", "conv"), (("stages_0", "stem_norm"), "bn1", "bn")]
  for s, depth in enumerate(depths):
    for b in range(depth):
      ours, theirs = (f"stages_{s}", f"Bottleneck_{b}"), f"layer{s + 1}.{b}"
      for i in range(3):
        names.append(((*ours, f"Conv_{i}"), f"{theirs}.conv{i + 1}", "conv"))
        names.append(((*ours, f"BatchNorm_{i}"), f"{theirs}.bn{i + 1}", "bn"))
      projected = widths is None or s <= 1 or widths[s - 1] != widths[s]
      if b == 0 and projected:
        names.append(((*ours, "projection"), f"{theirs}.downsample.0", "conv"))
        names.append(((*ours, "BatchNorm_3"), f"{theirs}.downsample.1", "bn"))
  return names


def vgg_names(depths) -> list[tuple[tuple[str, ...], str, str]]:
  """The same for VGG-16-BN's ``features``: conv, batch norm, ReLU per layer, a pool per block.

  >>> [n[1] for n in vgg_names((2, 1))]
  ['features.0', 'features.1', 'features.3', 'features.4', 'features.7', 'features.8']
  """
  names, index = [], 0
  for s, depth in enumerate(depths):
    for b in range(depth):
      ours = (f"stages_{s}", f"ConvBlock_{b}")
      names.append(((*ours, "Conv_0"), f"features.{index}", "conv_bias"))
      names.append(((*ours, "BatchNorm_0"), f"features.{index + 1}", "bn"))
      index += 3
    index += 1  # The block's max pooling.
  return names


def _depths(encoder) -> tuple[int, ...]:
  return (type(encoder).default_depths(len(encoder.widths)) if encoder.depths is None
          else tuple(encoder.depths))


def encoder_weights(encoder_name: str, encoder, weights: Mapping[str, np.ndarray],
                    path: str = "weights") -> tuple[dict, dict]:
  """``(params, batch_stats)`` of ``encoder`` (a module of ``models.encoders``) from a
  torchvision state dict; ``PretrainedError`` naming missing, unexpected or misshapen keys."""
  if encoder_name not in ARCHITECTURES:
    raise PretrainedError(f"{path}: pretrained weights exist for encoders"
                          f" {', '.join(ARCHITECTURES)}, not {encoder_name!r}")
  if encoder_name == "resnet50_dilated":
    layout = resnet_names(_depths(encoder), tuple(encoder.widths))
  else:
    layout = vgg_names(_depths(encoder))
  params, stats, used, missing = {}, {}, set(), []

  def take(key):
    if key not in weights:
      missing.append(key)
      return None
    used.add(key)
    return np.asarray(weights[key], np.float32)

  def put(tree, ours, leaf, value):
    node = tree
    for part in ours:
      node = node.setdefault(part, {})
    node[leaf] = value

  for ours, theirs, kind in layout:
    if kind in ("conv", "conv_bias"):
      weight = take(f"{theirs}.weight")
      if weight is not None:
        put(params, ours, "kernel", _conv(weight))
      if kind == "conv_bias":
        bias = take(f"{theirs}.bias")
        if bias is not None:  # Folded into the next batch norm's running mean.
          put(stats, ours[:-1] + ("BatchNorm_0",), "_conv_bias", bias)
    else:
      values = [take(f"{theirs}.{n}") for n in ("weight", "bias", "running_mean", "running_var")]
      if all(v is not None for v in values):
        scale, bias, mean, var = values
        put(params, ours, "scale", scale)
        put(params, ours, "bias", bias)
        put(stats, ours, "mean", mean)
        put(stats, ours, "var", var)
  for block in _leaves(stats):
    node = block
    if "_conv_bias" in node:
      conv_bias = node.pop("_conv_bias")
      if "mean" in node:
        node["mean"] = node["mean"] - conv_bias
  unexpected = sorted(k for k in weights if k not in used and not UNUSED[encoder_name].search(k))
  problems = []
  if missing:
    problems.append(f"missing {', '.join(missing[:6])}{' ...' if len(missing) > 6 else ''}"
                    f" ({len(missing)} keys)")
  if unexpected:
    problems.append(f"unexpected {', '.join(unexpected[:6])}"
                    f"{' ...' if len(unexpected) > 6 else ''} ({len(unexpected)} keys; the"
                    f" encoder has {len(_depths(encoder))} stages of depths {_depths(encoder)})")
  if problems:
    raise PretrainedError(f"{path}: does not fit encoder {encoder_name!r}: " + "; ".join(problems))
  return params, stats


def _leaves(tree: dict):
  """The innermost dicts of a nested dict."""
  if all(not isinstance(v, dict) for v in tree.values()):
    yield tree
    return
  for value in tree.values():
    if isinstance(value, dict):
      yield from _leaves(value)


def _shape(x: Any) -> tuple[int, ...]:
  return tuple(x.shape) if hasattr(x, "shape") else tuple(np.shape(x))


def _check_shapes(ours: Mapping, theirs: Mapping, where: str, path: str) -> None:
  for key, value in theirs.items():
    if isinstance(value, Mapping):
      _check_shapes(ours[key], value, f"{where}/{key}", path)
    elif _shape(ours[key]) != _shape(value):
      raise PretrainedError(f"{path}: {where}/{key} has shape {_shape(value)} in the file"
                            f" but {_shape(ours[key])} in the encoder (its widths must be"
                            " the architecture's full ones)")


def encoder_paths(params: Mapping, encoder_params: Mapping, prefix=()) -> list[tuple[str, ...]]:
  """Where in a network's ``params`` subtrees with the encoder's structure sit (every copy)."""
  if not isinstance(params, Mapping):
    return []
  if set(params) == set(encoder_params) and _same_structure(params, encoder_params):
    return [prefix]
  found = []
  for key, value in params.items():
    found += encoder_paths(value, encoder_params, prefix + (key,))
  return found


def _same_structure(a: Any, b: Any) -> bool:
  if isinstance(a, Mapping) != isinstance(b, Mapping):
    return False
  if not isinstance(a, Mapping):
    return _shape(a) == _shape(b)
  return set(a) == set(b) and all(_same_structure(a[k], b[k]) for k in a)


def _replace(tree: Mapping, at: tuple[str, ...], new: Mapping) -> dict:
  if not at:
    return _merge(tree, new)
  out = dict(tree)
  out[at[0]] = _replace(tree[at[0]], at[1:], new)
  return out


def _merge(tree: Mapping, new: Mapping) -> dict:
  out = dict(tree)
  for key, value in new.items():
    out[key] = _merge(tree[key], value) if isinstance(value, Mapping) else np.asarray(
        value, getattr(tree[key], "dtype", np.float32))
  return out


def into(params: Mapping, batch_stats: Mapping, encoder_name: str, encoder, weights,
         path: str = "weights") -> tuple[dict, dict, list[tuple[str, ...]]]:
  """``(params, batch_stats, paths)``: every copy of ``encoder`` in a network's variables
  replaced by the weights; ``paths`` are where the copies were."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  shapes = jax.eval_shape(lambda: encoder.init(jax.random.key(0), jnp.zeros(
      (1, 64, 64, 3), jnp.float32), train=False))
  new_params, new_stats = encoder_weights(encoder_name, encoder, weights, path)
  _check_shapes(shapes["params"], new_params, "params", path)
  _check_shapes(shapes.get("batch_stats", {}), new_stats, "batch_stats", path)
  paths = encoder_paths(params, shapes["params"])
  if not paths:
    raise PretrainedError(f"{path}: the network has no {encoder_name!r} encoder of these widths")
  params, batch_stats = dict(params), dict(batch_stats)
  for at in paths:
    params = _replace(params, at, new_params)
    batch_stats = _replace(batch_stats, at, new_stats)
  return params, batch_stats, paths
