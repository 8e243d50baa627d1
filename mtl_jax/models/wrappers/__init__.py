"""Wrappers that extend any network (``mtl_jax.models.WRAPPERS``): Self-Regulation, HMSA."""
