"""configs/synthetic_balancer.py stays true to the balancers it configures."""

import inspect

import pytest

from configs import synthetic_balancer
from mtl_jax import balancers
from mtl_jax import build
from mtl_jax import schema


def test_every_method_has_an_entry():
  assert set(synthetic_balancer.OPTIONS) == set(balancers.REGISTRY)


@pytest.mark.parametrize("method", sorted(balancers.REGISTRY))
def test_options_are_the_methods_parameters_at_their_defaults(method):
  params = inspect.signature(balancers.REGISTRY[method]).parameters
  config = synthetic_balancer.get_config(method)
  build.experiment(config, with_data=False)
  assert config.balancer.name == method
  for key, value in config.balancer.kwargs.items():
    assert key in params, f"{method}: {key} is not an option"
    assert value == params[key].default, f"{method}.{key}: {value} != {params[key].default}"
  balancer = balancers.get(method, num_tasks=len(config.tasks.names), **config.balancer.kwargs)
  assert callable(balancer.update)


def test_default_is_the_mtran_method():
  assert synthetic_balancer.get_config().balancer.name == "imtl_rwl"


def test_unknown_method_names_the_key():
  with pytest.raises(schema.ConfigError, match=r"config\.balancer\.name: unknown value 'magic'"):
    build.experiment(synthetic_balancer.get_config("magic"), with_data=False)
