"""NYUv2 (13 classes, depth, normals) as a tensorflow-datasets builder.

Reads the preprocessed NYUv2 release the field trains on (288 x 384; distributed
with MTAN and used by Auto-Lambda, Nash-MTL, FAMO and LibMTL) from the tfds
manual directory, and stores it as array_record, written and read without
TensorFlow::

  builder = make_builder(data_dir="/tmp/tfds")
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir="/data/nyuv2"))
  example = builder.as_data_source()["train"][0]

What ``builder.as_data_source()[split][i]`` returns (NumPy, no TensorFlow)::

  image         uint8   [H, W, 3]   round(255 x) of the release's [0, 1] floats (PNG)
  segmentation  uint8   [H, W]      class ids (CLASS_NAMES), 255 = ignore (-1 there)
  depth         float32 [H, W]      as released (metres), 0 = invalid
  normals       float32 [H, W, 3]   as released, zeros = invalid

Splits: ``train`` (795 images, from ``train/``) and ``test`` (654 images, from
``val/``: the field evaluates on the official NYUv2 test images, which the
release calls val). Record i of a split is the i-th smallest file index (file
``<i>.npy`` in the release, whose indices run 0..N-1); shuffling is disabled.

Every file is checked: the layout and every header (names, pairing, shapes,
dtypes) before anything is written, the values (ranges, NaN) as each example
is read; an error names the file, and tfds removes its incomplete directory,
so no half-built dataset is left behind.
"""

import dataclasses
import os

import ml_collections
import tensorflow_datasets as tfds

from mtl_jax.data import dataset
from mtl_jax.data import modalities
from mtl_jax.data import npy_layout

HEIGHT, WIDTH = 288, 384  # The release's image size.
# The 13-class NYUv2 labelling (Couprie et al. 2013; Eigen & Fergus 2015), in
# id order; the release stores id - 1, with -1 = unlabelled.
CLASS_NAMES = ("bed", "books", "ceiling", "chair", "floor", "furniture", "objects",
               "picture", "sofa", "table", "tv", "wall", "window")
NUM_CLASSES = len(CLASS_NAMES)
SPLIT_DIRS = {"train": "train", "test": "val"}  # tfds split -> release directory.
TASKS = ("segmentation", "depth", "normals")  # Ground truth besides the image.
OPTIONS = {}  # No optional config.dataset field (source, num_classes).

_SOURCE = ("the preprocessed NYUv2 (288x384) archive linked from the MTAN repository"
           " README (github.com/lorenmt/mtan)")


def release_files(height: int = HEIGHT, width: int = WIDTH) -> tuple[npy_layout.Modality, ...]:
  """The release's directories and the shapes their files must have."""
  m = npy_layout.Modality
  return (m("image", "image", ((height, width, 3),)),
          m("label", "segmentation", ((height, width),), NUM_CLASSES),
          m("depth", "depth", ((height, width, 1), (height, width))),
          m("normal", "normals", ((height, width, 3),)))


MANUAL_DOWNLOAD_INSTRUCTIONS = f"""\
Download {_SOURCE}, extract it, and pass its directory as the manual directory
(tfds.download.DownloadConfig(manual_dir=...), config.dataset.manual_dir, or
`tfds build --manual_dir=...`). The directory itself, or one sub-directory of
it, must hold one .npy file per sample and modality:
{npy_layout.describe(release_files())}
with the same indices in every modality of a split (795 train, 654 val).
"""

_DESCRIPTION = f"""\
NYU Depth v2 indoor scenes at 288 x 384 (the preprocessed release of MTAN),
with 13-class semantic segmentation, depth and surface normals.
Classes (id: name): {", ".join(f"{i}: {n}" for i, n in enumerate(CLASS_NAMES))}.
"""

_CITATION = """\
@inproceedings{silberman2012indoor,
  title={Indoor Segmentation and Support Inference from {RGBD} Images},
  author={Silberman, Nathan and Hoiem, Derek and Kohli, Pushmeet and Fergus, Rob},
  booktitle={ECCV}, year={2012}}
@inproceedings{liu2019end,
  title={End-to-End Multi-Task Learning with Attention},
  author={Liu, Shikun and Johns, Edward and Davison, Andrew J},
  booktitle={CVPR}, year={2019}}
"""


@dataclasses.dataclass
class Nyuv2Config(tfds.core.BuilderConfig):
  """The image size every file of the release must have."""
  height: int = HEIGHT
  width: int = WIDTH


DEFAULT_CONFIG = Nyuv2Config(name="default", description="The 288 x 384 release.")


def make_config(height: int = HEIGHT, width: int = WIDTH) -> Nyuv2Config:
  """A config expecting ``height x width`` files; 288 x 384 gives ``DEFAULT_CONFIG``.

  Other sizes are for tests and for releases re-saved at another size (the
  builder checks sizes; it does not resize).

  Example:

  >>> make_config(6, 8).name
  '6x8'
  >>> make_config(288, 384) is DEFAULT_CONFIG
  True
  """
  if (int(height), int(width)) == (HEIGHT, WIDTH):
    return DEFAULT_CONFIG
  return Nyuv2Config(name=f"{int(height)}x{int(width)}",
                     description=f"{height} x {width} files.", height=int(height),
                     width=int(width))


def make_builder(data_dir=None, height: int = HEIGHT, width: int = WIDTH) -> "Nyuv2":
  """A ``Nyuv2`` builder for ``height x width`` files, in ``data_dir``.

  The default config is passed by name: a pickled copy of a registered config
  (grain's worker processes rebuild the builder) is refused by tfds.
  """
  config = make_config(height, width)
  return Nyuv2(config=config.name if config is DEFAULT_CONFIG else config,
               data_dir=data_dir)


def info(cfg: ml_collections.ConfigDict) -> dataset.DatasetInfo:
  """The dataset as ``config.dataset`` sets it (``height``, ``width``: the files' size)."""
  height, width = dataset.image_size(cfg, (HEIGHT, WIDTH))
  return dataset.DatasetInfo(TASKS, NUM_CLASSES, CLASS_NAMES, (height, width, 3))


def builder(cfg: ml_collections.ConfigDict) -> "Nyuv2":
  """The builder of ``config.dataset`` (``height``, ``width``, ``data_dir``)."""
  return make_builder(cfg.data_dir, *info(cfg).image_shape[:2])


class Nyuv2(tfds.core.GeneratorBasedBuilder):
  """NYUv2 with 13-class segmentation, depth and normals, from the MTAN release."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  BUILDER_CONFIGS = [DEFAULT_CONFIG]
  MANUAL_DOWNLOAD_INSTRUCTIONS = MANUAL_DOWNLOAD_INSTRUCTIONS

  def __init__(self, *, file_format="array_record", **kwargs):
    super().__init__(file_format=file_format, **kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    h, w = self.builder_config.height, self.builder_config.width
    return self.dataset_info_from_configs(
        description=_DESCRIPTION,
        features=modalities.features(("image",) + TASKS, h, w),
        supervised_keys=None,
        disable_shuffling=True,  # Record i is file index i.
        homepage="https://github.com/lorenmt/mtan",
        citation=_CITATION,
        metadata=tfds.core.MetadataDict(class_names=list(CLASS_NAMES)),
    )

  def _split_generators(self, dl_manager):
    cfg = self.builder_config
    mods = release_files(cfg.height, cfg.width)
    manual_dir = npy_layout.manual_dir_or_raise(dl_manager)
    root = npy_layout.find_root(manual_dir, mods, tuple(SPLIT_DIRS.values()),
                                f"NYUv2 (from {_SOURCE})")
    # Check both splits' layouts and headers before anything is written.
    scanned = {split: (os.path.join(root, d), npy_layout.scan_split(os.path.join(root, d), mods))
               for split, d in SPLIT_DIRS.items()}
    return {split: self._generate_examples(directory, indices, mods)
            for split, (directory, indices) in scanned.items()}

  def _generate_examples(self, directory, indices, mods):
    for i in indices:
      yield i, modalities.encode({
          m.key: npy_layout.load(os.path.join(directory, m.dirname, f"{i}.npy"), m)
          for m in mods})
