"""The modality table: the builders, the augmentations and the pipeline follow its rows."""


import numpy as np
import pytest

from mtl_jax.data import augment
from mtl_jax.data import cityscapes
from mtl_jax.data import modalities
from mtl_jax.data import nyuv2
from mtl_jax.data import pipeline
from mtl_jax.data import synthetic_scenes


@pytest.mark.parametrize("builder", [
    synthetic_scenes.SyntheticScenes(config=synthetic_scenes.make_config(6, 8, 2, 1)),
    nyuv2.make_builder(height=6, width=8),
    cityscapes.make_builder(source="official", height=6, width=8),
], ids=["synthetic_scenes", "nyuv2", "cityscapes"])
def test_builder_features_follow_the_table(builder):
  features = builder.info.features
  module = {"SyntheticScenes": synthetic_scenes, "Nyuv2": nyuv2,
            "Cityscapes": cityscapes}[type(builder).__name__]
  assert tuple(features.keys()) == ("image",) + module.TASKS
  for key in module.TASKS:
    m = modalities.get(key)
    assert features[key].shape == m.shape(6, 8)
    assert np.dtype(features[key].np_dtype) == m.stored_dtype


@pytest.fixture
def edges_row():
  """The edges row: binary edge labels, 255 = unknown."""
  return modalities.get("edges")


def test_a_new_row_flows_through_augment_and_pipeline(edges_row):
  rng = np.random.default_rng(0)
  stored = {"image": rng.integers(0, 256, (6, 8, 3), dtype=np.uint8),
            "edges": rng.integers(0, 2, (6, 8)).astype(np.uint8),
            "depth": rng.uniform(1, 5, (6, 8)).astype(np.float32)}
  stored["edges"][0, 0] = 255  # Unknown: -1 in a batch.
  batch_example = modalities.decode(stored, ["image", "edges", "depth"])
  assert batch_example["edges"].dtype == np.int32 and batch_example["edges"][0, 0] == -1
  # A 2x zoom: edges are resized like labels (nearest, values unchanged), depth divided.
  zoomed = augment.random_scale_crop(batch_example, np.random.default_rng(1), scales=(2.0,))
  assert set(np.unique(zoomed["edges"])) <= set(np.unique(batch_example["edges"]))
  assert np.isin(zoomed["depth"] * 2, batch_example["depth"]).all()
  flipped = augment.random_flip(batch_example, np.random.default_rng(0), p=1.0)
  np.testing.assert_array_equal(flipped["edges"], batch_example["edges"][:, ::-1])
  # Evaluation batches pad with the row's invalid value.
  source = [stored]
  batch = next(pipeline.eval_batches(source, keys=["image", "edges"], batch_size=2))
  assert (batch["edges"][1] == edges_row.invalid).all() and batch["edges"].shape == (2, 6, 8)


def test_unknown_key_is_a_clear_error():
  with pytest.raises(KeyError, match=r"no modality 'boundaries' in mtl_jax\.data\.modalities\.TABLE"):
    modalities.decode({"boundaries": np.zeros((2, 2))}, ["boundaries"])
  with pytest.raises(KeyError, match=r"augment knows the keys of mtl_jax\.data\.modalities"):
    augment.random_flip({"boundaries": np.zeros((2, 2))}, np.random.default_rng(0))
