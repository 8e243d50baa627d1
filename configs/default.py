"""Defaults every experiment config starts from (not meant to be run alone).

The fields and their defaults live in ``mtl_jax/defaults.py``, installed with
the library (notebooks and scripts use it without this folder); every file
here starts from it.
"""

from mtl_jax.defaults import get_config  # pylint: disable=unused-import
