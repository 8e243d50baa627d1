"""Cityscapes (7 or 19 classes, depth) as a tensorflow-datasets builder.

Two sources, chosen by builder config, both read from the tfds manual
directory and stored as array_record (written and read without TensorFlow),
each in a module of its own:

* ``preprocessed_7``, ``preprocessed_19`` (default ``preprocessed_7``): the
  preprocessed 128 x 256 release the field trains on
  (``cityscapes_preprocessed``). Depth is stored as released (MTAN's inverse
  depth, NOT metres).
* ``official_7``, ``official_19``: the official release (cityscapes-dataset.com:
  leftImg8bit, gtFine, disparity, camera), converted and resized to the
  config's size, 128 x 256 unless ``make_config`` says otherwise
  (``cityscapes_official``). Depth is in metres.

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

Splits: ``train`` (2975 images, from ``train``) and ``test`` (500 images, from
``val``: the field evaluates on val; the official test set has no labels).
Shuffling is disabled: records keep the source's order.

The layout is checked for both splits before anything is written, values as
each example is read; an error names the file, and tfds removes its
incomplete directory.
"""

import dataclasses

import ml_collections
import tensorflow_datasets as tfds

from mtl_jax.data import cityscapes_official
from mtl_jax.data import cityscapes_preprocessed
from mtl_jax.data import dataset
from mtl_jax.data import modalities
from mtl_jax.data import npy_layout

HEIGHT, WIDTH = 128, 256  # The preprocessed release's size; the official default.
SPLIT_DIRS = {"train": "train", "test": "val"}  # tfds split -> release directory.
TASKS = ("segmentation", "depth")  # Ground truth besides the image.
SOURCE_MODULES = {"preprocessed": cityscapes_preprocessed, "official": cityscapes_official}
SOURCES = tuple(SOURCE_MODULES)

CLASS_NAMES_7 = ("flat", "construction", "object", "nature", "sky", "human", "vehicle")
CLASS_NAMES_19 = ("road", "sidewalk", "building", "wall", "fence", "pole", "traffic light",
                  "traffic sign", "vegetation", "terrain", "sky", "person", "rider", "car",
                  "truck", "bus", "train", "motorcycle", "bicycle")
CLASS_NAMES = {7: CLASS_NAMES_7, 19: CLASS_NAMES_19}
# The optional config.dataset fields this dataset reads (None: the first value).
OPTIONS = {"source": SOURCES, "num_classes": tuple(sorted(CLASS_NAMES))}


def options(cfg: ml_collections.ConfigDict) -> tuple[str, int]:
  """``(source, num_classes)`` of ``config.dataset``, defaults filled in.

  >>> options(ml_collections.ConfigDict({"source": None, "num_classes": 19}))
  ('preprocessed', 19)
  """
  return cfg.get("source") or SOURCES[0], int(cfg.get("num_classes") or 7)


def info(cfg: ml_collections.ConfigDict) -> dataset.DatasetInfo:
  """The dataset as ``config.dataset`` sets it (``source``, ``num_classes``, ``height``,
  ``width``)."""
  _, num_classes = options(cfg)
  height, width = dataset.image_size(cfg, (HEIGHT, WIDTH))
  return dataset.DatasetInfo(TASKS, num_classes, CLASS_NAMES[num_classes], (height, width, 3))


def builder(cfg: ml_collections.ConfigDict) -> "Cityscapes":
  """The builder of ``config.dataset``."""
  source, num_classes = options(cfg)
  return make_builder(cfg.data_dir, source, num_classes, *info(cfg).image_shape[:2])


_PREPROCESSED_LAYOUT = npy_layout.describe(
    cityscapes_preprocessed.release_files(7, HEIGHT, WIDTH)
    + cityscapes_preprocessed.release_files(19, HEIGHT, WIDTH)[1:2])

MANUAL_DOWNLOAD_INSTRUCTIONS = f"""\
Pass the directory holding the files as the manual directory
(tfds.download.DownloadConfig(manual_dir=...), config.dataset.manual_dir, or
`tfds build --manual_dir=...`).

Configs preprocessed_7 / preprocessed_19: download {cityscapes_preprocessed.SOURCE}
and extract it; the manual directory, or one sub-directory of it, must hold
{_PREPROCESSED_LAYOUT}
with the same indices in every directory of a split (2975 train, 500 val).

Configs official_7 / official_19: download {cityscapes_official.SOURCE} and extract
them into the manual directory, giving
{cityscapes_official.LAYOUT}
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
    return self.dataset_info_from_configs(
        description=_DESCRIPTION,
        features=modalities.features(("image",) + TASKS, cfg.height, cfg.width),
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
    # Every split is checked before anything is written.
    scanned = SOURCE_MODULES[cfg.source].scan(manual_dir, SPLIT_DIRS, cfg)
    return {split: self._generate_examples(items) for split, items in scanned.items()}

  def _generate_examples(self, items):
    cfg = self.builder_config
    for key, example in SOURCE_MODULES[cfg.source].examples(items, cfg):
      yield key, modalities.encode(example)
