"""Shared fixtures (the XLA flags every test runs with are set in ../conftest.py)."""

import pytest


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
  """A tfds data directory shared by the tests of one session."""
  return str(tmp_path_factory.mktemp("tensorflow_datasets"))


@pytest.fixture
def tiny_config(data_dir):
  """configs/tiny.py with its dataset in the session's data directory."""
  from configs import tiny  # pylint: disable=g-import-not-at-top
  config = tiny.get_config()
  config.dataset.data_dir = data_dir
  return config
