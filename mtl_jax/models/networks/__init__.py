"""The multi-task networks built by name (``mtl_jax.models.REGISTRY``), one per file."""
