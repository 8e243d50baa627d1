"""The official Cityscapes release, one source of the ``cityscapes`` dataset.

Reads leftImg8bit, gtFine, disparity and camera (cityscapes-dataset.com) and
converts each image, per pixel of the full-resolution files:

* 19 classes: ``gtFine_labelIds`` through the Cityscapes scripts' labelId ->
  trainId table (``LABEL_ID_TO_TRAIN_ID``; trainId 255 = ignore).
* 7 classes: the label's Cityscapes category id minus one (flat, construction,
  object, nature, sky, human, vehicle); the void category is ignored. Every
  labelId of a category counts, including those the 19-class table ignores
  (parking, rail track, guard rail, bridge, tunnel, polegroup, caravan,
  trailer).
* depth: a ``disparity`` PNG value p > 1 is the disparity d = (p - 1) / 256
  pixels, and depth = baseline * fx / d metres, with ``extrinsic.baseline``
  and ``intrinsic.fx`` from the image's ``camera`` JSON; p <= 1 (d <= 0) is
  invalid (0).
* the image is resized by PIL, bilinearly (antialiased when shrinking); labels
  and depth by nearest neighbour (PIL: source pixel ``floor((i + 0.5) * H_in /
  H)``).

Records keep file order: sorted by city, then file name. ``scan`` checks both
splits (names, pairing, sizes, camera files) before anything is written;
``examples`` converts them, naming a file whose label ids are not Cityscapes
labelIds.
"""

import dataclasses
import json
import os

import numpy as np
from PIL import Image

from mtl_jax.data import npy_layout

# The Cityscapes labels (cityscapesScripts, helpers/labels.py): labelId ->
# (trainId, category id). trainId 255 and category 0 (void) are ignored.
_LABELS = {
    0: (255, 0), 1: (255, 0), 2: (255, 0), 3: (255, 0), 4: (255, 0), 5: (255, 0),
    6: (255, 0),  # unlabeled, ego vehicle, rectification border, out of roi, static,
                  # dynamic, ground
    7: (0, 1), 8: (1, 1), 9: (255, 1), 10: (255, 1),  # road, sidewalk, parking, rail track
    11: (2, 2), 12: (3, 2), 13: (4, 2), 14: (255, 2), 15: (255, 2), 16: (255, 2),
    # building, wall, fence, guard rail, bridge, tunnel
    17: (5, 3), 18: (255, 3), 19: (6, 3), 20: (7, 3),  # pole, polegroup, light, sign
    21: (8, 4), 22: (9, 4),  # vegetation, terrain
    23: (10, 5),  # sky
    24: (11, 6), 25: (12, 6),  # person, rider
    26: (13, 7), 27: (14, 7), 28: (15, 7), 29: (255, 7), 30: (255, 7), 31: (16, 7),
    32: (17, 7), 33: (18, 7),  # car, truck, bus, caravan, trailer, train, motorcycle,
                               # bicycle
}
LABEL_ID_TO_TRAIN_ID = {k: v[0] for k, v in _LABELS.items()}
LABEL_ID_TO_CATEGORY_ID = {k: v[1] for k, v in _LABELS.items()}


def label_lut(num_classes: int) -> np.ndarray:
  """uint8 [256] table: official labelId -> stored class id (255 = ignore).

  Ids outside the table (34 and up) map to 255 here; the builder rejects them.

  Example (labelIds 7 road, 9 parking, 26 car, 0 unlabeled):

  >>> label_lut(19)[[7, 9, 26, 0]].tolist(), label_lut(7)[[7, 9, 26, 0]].tolist()
  ([0, 255, 13, 255], [0, 0, 6, 255])
  """
  lut = np.full(256, 255, np.uint8)
  for label_id, (train_id, category) in _LABELS.items():
    if num_classes == 19:
      lut[label_id] = train_id
    elif num_classes == 7:
      lut[label_id] = 255 if category == 0 else category - 1
    else:
      raise ValueError(f"num_classes must be 7 or 19; got {num_classes}")
  return lut


def disparity_to_depth(disparity_png: np.ndarray, baseline: float, fx: float) -> np.ndarray:
  """Official disparity PNG values -> depth in metres (0 = invalid).

  Args:
    disparity_png: uint16 [H, W], the raw PNG values p.
    baseline: the stereo baseline in metres (``extrinsic.baseline``).
    fx: the focal length in pixels (``intrinsic.fx``).

  Returns:
    float32 [H, W]: ``baseline * fx / ((p - 1) / 256)`` where p > 1, else 0.

  Example:

  >>> disparity_to_depth(np.array([[0, 1, 257, 513]]), 0.2, 2000.0).tolist()
  [[0.0, 0.0, 400.0, 200.0]]
  """
  d = (disparity_png.astype(np.float64) - 1.0) / 256.0
  valid = d > 0
  depth = np.where(valid, baseline * fx / np.where(valid, d, 1.0), 0.0)
  return depth.astype(np.float32)



SOURCE = ("the official Cityscapes release (cityscapes-dataset.com, after"
                    " registration): leftImg8bit_trainvaltest.zip, gtFine_trainvaltest.zip,"
                    " disparity_trainvaltest.zip and camera_trainvaltest.zip")
LAYOUT = """\
  leftImg8bit/{train,val}/<city>/<city>_<seq>_<frame>_leftImg8bit.png
  gtFine/{train,val}/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png
  disparity/{train,val}/<city>/<city>_<seq>_<frame>_disparity.png
  camera/{train,val}/<city>/<city>_<seq>_<frame>_camera.json"""


def scan(manual_dir: str, split_dirs: dict[str, str], cfg) -> dict[str, list["OfficialSample"]]:
  """Checks every split of the release; returns ``{tfds split: samples}``.

  Args:
    manual_dir: the manual directory holding leftImg8bit/, gtFine/, ...
    split_dirs: tfds split -> the release's split directory.
    cfg: the builder config (unused here: every size is accepted and resized).
  """
  del cfg
  return {split: scan_official(manual_dir, d) for split, d in split_dirs.items()}


def examples(samples: list["OfficialSample"], cfg):
  """``(key, example)`` per sample, converted and resized to ``cfg.height x cfg.width``."""
  lut = label_lut(cfg.num_classes)
  for sample in samples:
    yield sample.stem, load_official(sample, lut, cfg.height, cfg.width)


@dataclasses.dataclass(frozen=True)
class OfficialSample:
  """The four files of one official image (``stem``: ``<city>_<seq>_<frame>``)."""
  stem: str
  image: str
  label: str
  disparity: str
  camera: str
  baseline: float
  fx: float


_OFFICIAL = (  # (directory, file suffix, whether other files are allowed there)
    ("leftImg8bit", "_leftImg8bit.png", False),
    ("gtFine", "_gtFine_labelIds.png", True),  # Also holds color, instanceIds, polygons.
    ("disparity", "_disparity.png", False),
    ("camera", "_camera.json", False),
)


def _list_official(manual_dir: str, top: str, split: str, suffix: str,
                   others_allowed: bool) -> dict[str, str]:
  """``<city>/<stem>`` -> path for the files ending in ``suffix`` of one directory."""
  directory = os.path.join(manual_dir, top, split)
  if not os.path.isdir(directory):
    raise npy_layout.LayoutError(
        f"Cityscapes official: missing directory {directory}. Expected in the manual"
        f" directory {manual_dir}:\n{LAYOUT}\nfrom {SOURCE}.")
  files = {}
  for city in sorted(os.listdir(directory)):
    city_dir = os.path.join(directory, city)
    if city.startswith("."):
      continue
    if not os.path.isdir(city_dir):
      raise npy_layout.LayoutError(f"{city_dir}: expected a city directory, found a file")
    for name in sorted(os.listdir(city_dir)):
      if name.startswith("."):
        continue
      if name.endswith(suffix) and name.startswith(city + "_"):
        files[f"{city}/{name[:-len(suffix)]}"] = os.path.join(city_dir, name)
      elif not others_allowed:
        raise npy_layout.LayoutError(
            f"{os.path.join(city_dir, name)}: unexpected name; files in {directory}/<city>/"
            f" must be named <city>_<seq>_<frame>{suffix}")
  return files


def scan_official(manual_dir: str, split: str) -> list[OfficialSample]:
  """Checks one split of the official release without decoding images.

  Every image needs a label, disparity and camera file (and vice versa), all
  of one size, with a camera file holding a positive baseline and fx.

  Raises:
    LayoutError: naming the missing, unpaired or wrong file.
  """
  listed = [_list_official(manual_dir, top, split, suffix, allowed)
            for top, suffix, allowed in _OFFICIAL]
  keys = set().union(*listed)
  if not keys:
    raise npy_layout.LayoutError(f"Cityscapes official: no images in"
                                 f" {os.path.join(manual_dir, 'leftImg8bit', split)}")
  for (top, suffix, _), files in zip(_OFFICIAL, listed):
    missing = sorted(keys - set(files))
    if missing:
      key = missing[0]
      city, stem = key.split("/")
      have = [f[key] for f in listed if key in f]
      more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
      raise npy_layout.LayoutError(
          f"{os.path.join(manual_dir, top, split, city, stem + suffix)} is missing, but"
          f" {', '.join(have)} {'exists' if len(have) == 1 else 'exist'}{more}; every image"
          " needs all four files.")
  samples = []
  for key in sorted(keys):
    image, label, disparity, camera = (f[key] for f in listed)
    sizes = {}
    for path, modes in ((image, ("RGB",)), (label, ("L",)), (disparity, ("I;16", "I", "I;16B"))):
      try:
        with Image.open(path) as im:
          mode, sizes[path] = im.mode, im.size
      except Exception as e:  # pylint: disable=broad-except
        raise npy_layout.LayoutError(f"{path}: not a readable PNG ({e})") from e
      if mode not in modes:
        raise npy_layout.LayoutError(f"{path}: PNG mode {mode}, expected {' or '.join(modes)}")
    if len(set(sizes.values())) > 1:
      raise npy_layout.LayoutError(
          "sizes differ: " + ", ".join(f"{p} is {w}x{h}" for p, (w, h) in sizes.items()))
    try:
      with open(camera) as f:
        params = json.load(f)
      baseline = float(params["extrinsic"]["baseline"])
      fx = float(params["intrinsic"]["fx"])
    except Exception as e:  # pylint: disable=broad-except
      raise npy_layout.LayoutError(f"{camera}: expected JSON with extrinsic.baseline and"
                                   f" intrinsic.fx ({type(e).__name__}: {e})") from e
    if not (np.isfinite(baseline) and baseline > 0 and np.isfinite(fx) and fx > 0):
      raise npy_layout.LayoutError(f"{camera}: baseline {baseline} and fx {fx} must be"
                                   " positive")
    samples.append(OfficialSample(key.split("/")[1], image, label, disparity, camera,
                                  baseline, fx))
  return samples


def load_official(sample: OfficialSample, lut: np.ndarray, height: int,
                  width: int) -> dict[str, np.ndarray]:
  """One official sample converted and resized to ``height x width``.

  Returns:
    ``image`` uint8 [H, W, 3] (bilinear), ``segmentation`` uint8 [H, W]
    (``lut`` applied, then nearest), ``depth`` float32 [H, W] metres (nearest).

  Raises:
    LayoutError: a label id outside the Cityscapes table, naming the file.
  """
  size = (width, height)
  with Image.open(sample.image) as im:
    image = im.convert("RGB")
    if image.size != size:
      image = image.resize(size, Image.BILINEAR)
    image = np.asarray(image, np.uint8)
  with Image.open(sample.label) as im:
    label_ids = np.asarray(im)
  unknown = np.setdiff1d(np.unique(label_ids), np.array(sorted(_LABELS)))
  if unknown.size:
    raise npy_layout.LayoutError(f"{sample.label}: label ids {unknown[:5].tolist()} are not"
                                 " Cityscapes labelIds (0-33)")
  label = Image.fromarray(lut[label_ids])
  with Image.open(sample.disparity) as im:
    disparity = np.asarray(im).astype(np.int64)
  depth = Image.fromarray(disparity_to_depth(disparity, sample.baseline, sample.fx))
  if label.size != size:
    label = label.resize(size, Image.NEAREST)
    depth = depth.resize(size, Image.NEAREST)
  return {"image": image, "segmentation": np.asarray(label, np.uint8),
          "depth": np.asarray(depth, np.float32)}

