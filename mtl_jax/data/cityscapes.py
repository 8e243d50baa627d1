"""Cityscapes (7 or 19 classes, depth) as a tensorflow-datasets builder.

Two sources, chosen by builder config, both read from the tfds manual
directory and stored as array_record (written and read without TensorFlow):

* ``preprocessed_7``, ``preprocessed_19`` (default ``preprocessed_7``): the
  preprocessed 128 x 256 release the field trains on (distributed with MTAN;
  used by Auto-Lambda, Nash-MTL, FAMO, LibMTL): ``<root>/{train,val}/{image,
  label_7,label_19,depth}/<index>.npy``. Depth is stored as released: MTAN's
  README calls it (inverse) depth, so it is NOT in metres.
* ``official_7``, ``official_19``: the official release (cityscapes-dataset.com:
  leftImg8bit, gtFine, disparity, camera), converted here and resized to the
  config's size (128 x 256 unless ``make_config`` says otherwise). Depth is in
  metres.

Usage::

  builder = make_builder(data_dir="/tmp/tfds", source="preprocessed", num_classes=7)
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir="/data/cityscapes"))
  example = builder.as_data_source()["train"][0]

What ``builder.as_data_source()[split][i]`` returns (NumPy, no TensorFlow)::

  image         uint8   [H, W, 3]   preprocessed: round(255 x) of the [0, 1] floats;
                                    official: the 8-bit image, PIL bilinear resize
                                    (antialiased when shrinking)
  segmentation  uint8   [H, W]      class ids (CLASS_NAMES_7 or CLASS_NAMES_19),
                                    255 = ignore
  depth         float32 [H, W]      0 = invalid; preprocessed: as released;
                                    official: metres, baseline * fx / disparity,
                                    nearest resize

Official conversions, per pixel of the full-resolution files:

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
* labels and depth are resized by nearest neighbour (PIL: source pixel
  ``floor((i + 0.5) * H_in / H)``).

Splits: ``train`` (2975 images, from ``train``) and ``test`` (500 images, from
``val``: the field evaluates on val; the official test set has no labels).
Records keep file order (preprocessed: index order; official: sorted by city,
then file name); shuffling is disabled.

The layout (names, pairing, sizes, camera files) is checked for both splits
before anything is written, values as each example is read; an error names
the file, and tfds removes its incomplete directory.
"""

import dataclasses
import io
import json
import os
import numpy as np
from PIL import Image
import tensorflow_datasets as tfds

from mtl_jax.data import npy_layout

HEIGHT, WIDTH = 128, 256  # The preprocessed release's size; the official default.
SOURCES = ("preprocessed", "official")
SPLIT_DIRS = {"train": "train", "test": "val"}  # tfds split -> release directory.

CLASS_NAMES_7 = ("flat", "construction", "object", "nature", "sky", "human", "vehicle")
CLASS_NAMES_19 = ("road", "sidewalk", "building", "wall", "fence", "pole", "traffic light",
                  "traffic sign", "vegetation", "terrain", "sky", "person", "rider", "car",
                  "truck", "bus", "train", "motorcycle", "bicycle")
CLASS_NAMES = {7: CLASS_NAMES_7, 19: CLASS_NAMES_19}

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


def preprocessed_modalities(num_classes: int, height: int = HEIGHT,
                            width: int = WIDTH) -> tuple[npy_layout.Modality, ...]:
  """The preprocessed release's directories used by a config, and their shapes."""
  m = npy_layout.Modality
  return (m("image", "image", ((height, width, 3),)),
          m(f"label_{num_classes}", "label", ((height, width),), num_classes),
          m("depth", "depth", ((height, width, 1), (height, width))))


_PREPROCESSED_SOURCE = ("the preprocessed Cityscapes (128x256) archive linked from the MTAN"
                        " repository README (github.com/lorenmt/mtan)")
_OFFICIAL_SOURCE = ("the official Cityscapes release (cityscapes-dataset.com, after"
                    " registration): leftImg8bit_trainvaltest.zip, gtFine_trainvaltest.zip,"
                    " disparity_trainvaltest.zip and camera_trainvaltest.zip")
_OFFICIAL_LAYOUT = """\
  leftImg8bit/{train,val}/<city>/<city>_<seq>_<frame>_leftImg8bit.png
  gtFine/{train,val}/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png
  disparity/{train,val}/<city>/<city>_<seq>_<frame>_disparity.png
  camera/{train,val}/<city>/<city>_<seq>_<frame>_camera.json"""

MANUAL_DOWNLOAD_INSTRUCTIONS = f"""\
Pass the directory holding the files as the manual directory
(tfds.download.DownloadConfig(manual_dir=...), config.dataset.manual_dir, or
`tfds build --manual_dir=...`).

Configs preprocessed_7 / preprocessed_19: download {_PREPROCESSED_SOURCE}
and extract it; the manual directory, or one sub-directory of it, must hold
{npy_layout.describe(preprocessed_modalities(7) + preprocessed_modalities(19)[1:2])}
with the same indices in every directory of a split (2975 train, 500 val).

Configs official_7 / official_19: download {_OFFICIAL_SOURCE} and extract
them into the manual directory, giving
{_OFFICIAL_LAYOUT}
(gtFine's other files are ignored).
"""

_DESCRIPTION = """\
Cityscapes street scenes with semantic segmentation (7 categories or the 19
train classes) and depth, from the preprocessed 128 x 256 release of MTAN or
converted from the official release.
"""

_CITATION = """\
@inproceedings{cordts2016cityscapes,
  title={The Cityscapes Dataset for Semantic Urban Scene Understanding},
  author={Cordts, Marius and Omran, Mohamed and Ramos, Sebastian and Rehfeld, Timo and
          Enzweiler, Markus and Benenson, Rodrigo and Franke, Uwe and Roth, Stefan and
          Schiele, Bernt},
  booktitle={CVPR}, year={2016}}
"""


@dataclasses.dataclass
class CityscapesConfig(tfds.core.BuilderConfig):
  """Source, number of classes and image size.

  ``preprocessed``: the size every file must have (no resizing);
  ``official``: the size the images are resized to.
  """
  source: str = "preprocessed"
  num_classes: int = 7
  height: int = HEIGHT
  width: int = WIDTH


def _registered(source, num_classes):
  what = ("the MTAN release, 128 x 256" if source == "preprocessed"
          else "the official release, resized to 128 x 256")
  return CityscapesConfig(name=f"{source}_{num_classes}", source=source,
                          num_classes=num_classes,
                          description=f"{num_classes} classes, {what}.")


BUILDER_CONFIGS = [_registered(s, c) for s in SOURCES for c in (7, 19)]


def make_config(source: str = "preprocessed", num_classes: int = 7, height: int = HEIGHT,
                width: int = WIDTH) -> CityscapesConfig:
  """A config; the registered one (``<source>_<num_classes>``) at 128 x 256.

  Example:

  >>> make_config("official", 19, 256, 512).name
  'official_19_256x512'
  >>> make_config().name
  'preprocessed_7'
  """
  if source not in SOURCES:
    raise ValueError(f"source must be one of {SOURCES}; got {source!r}")
  if num_classes not in CLASS_NAMES:
    raise ValueError(f"num_classes must be 7 or 19; got {num_classes}")
  height, width = int(height), int(width)
  if (height, width) == (HEIGHT, WIDTH):
    return next(c for c in BUILDER_CONFIGS if c.name == f"{source}_{num_classes}")
  return CityscapesConfig(name=f"{source}_{num_classes}_{height}x{width}", source=source,
                          num_classes=num_classes, height=height, width=width,
                          description=f"{num_classes} classes, {source}, {height} x {width}.")


def make_builder(data_dir=None, source: str = "preprocessed", num_classes: int = 7,
                 height: int = HEIGHT, width: int = WIDTH) -> "Cityscapes":
  """A ``Cityscapes`` builder in ``data_dir`` (registered configs passed by name,
  since tfds refuses a pickled copy of one in grain's worker processes)."""
  config = make_config(source, num_classes, height, width)
  registered = any(config is c for c in BUILDER_CONFIGS)
  return Cityscapes(config=config.name if registered else config,
                    data_dir=data_dir)


def _png(image: np.ndarray) -> bytes:
  buf = io.BytesIO()
  Image.fromarray(image).save(buf, format="PNG", compress_level=1)
  return buf.getvalue()


class Cityscapes(tfds.core.GeneratorBasedBuilder):
  """Cityscapes with 7- or 19-class segmentation and depth."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  BUILDER_CONFIGS = BUILDER_CONFIGS
  MANUAL_DOWNLOAD_INSTRUCTIONS = MANUAL_DOWNLOAD_INSTRUCTIONS

  def __init__(self, *, file_format="array_record", **kwargs):
    super().__init__(file_format=file_format, **kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    cfg = self.builder_config
    h, w = cfg.height, cfg.width
    zlib = tfds.features.Encoding.ZLIB
    return self.dataset_info_from_configs(
        description=_DESCRIPTION,
        features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(h, w, 3), encoding_format="png"),
            "segmentation": tfds.features.Tensor(shape=(h, w), dtype=np.uint8,
                                                 encoding=zlib),
            "depth": tfds.features.Tensor(shape=(h, w), dtype=np.float32, encoding=zlib),
        }),
        supervised_keys=None,
        disable_shuffling=True,  # Records keep file order.
        homepage="https://www.cityscapes-dataset.com",
        citation=_CITATION,
        metadata=tfds.core.MetadataDict(
            class_names=list(CLASS_NAMES[cfg.num_classes]), source=cfg.source,
            depth_units="metres" if cfg.source == "official" else "as released (MTAN)"),
    )

  def _split_generators(self, dl_manager):
    cfg = self.builder_config
    manual_dir = npy_layout.manual_dir_or_raise(dl_manager)
    if cfg.source == "preprocessed":
      mods = preprocessed_modalities(cfg.num_classes, cfg.height, cfg.width)
      root = npy_layout.find_root(manual_dir, mods, tuple(SPLIT_DIRS.values()),
                                  f"Cityscapes {cfg.name} (from {_PREPROCESSED_SOURCE})")
      # Check both splits' layouts and headers before anything is written.
      scanned = {s: (os.path.join(root, d), npy_layout.scan_split(os.path.join(root, d), mods))
                 for s, d in SPLIT_DIRS.items()}
      return {s: self._generate_examples((directory, indices, mods))
              for s, (directory, indices) in scanned.items()}
    scanned = {s: scan_official(manual_dir, d) for s, d in SPLIT_DIRS.items()}
    return {s: self._generate_examples(samples) for s, samples in scanned.items()}

  def _generate_examples(self, files):
    """``files``: (directory, indices, modalities) or a list of ``OfficialSample``."""
    if self.builder_config.source == "preprocessed":
      yield from self._preprocessed_examples(*files)
    else:
      yield from self._official_examples(files)

  def _preprocessed_examples(self, directory, indices, mods):
    image, label, depth = mods
    for i in indices:
      load = lambda m, i=i: npy_layout.load(os.path.join(directory, m.dirname, f"{i}.npy"), m)
      yield i, {"image": _png(load(image)), "segmentation": load(label), "depth": load(depth)}

  def _official_examples(self, samples):
    cfg = self.builder_config
    lut = label_lut(cfg.num_classes)
    for sample in samples:
      ex = load_official(sample, lut, cfg.height, cfg.width)
      ex["image"] = _png(ex["image"])
      yield sample.stem, ex


# The official release.


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
        f" directory {manual_dir}:\n{_OFFICIAL_LAYOUT}\nfrom {_OFFICIAL_SOURCE}.")
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

