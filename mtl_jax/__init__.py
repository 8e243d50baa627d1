"""mtl_jax: dense multi-task scene understanding in JAX/Flax.

Subpackages: ``balancers`` (gradient balancers as optax transformations),
``models`` (Flax networks), ``tasks`` (losses and metric accumulators),
``data`` (tfds datasets and the grain input pipeline). ``train`` holds the step
functions and ``train_and_evaluate``. Importing does nothing else.
"""

__version__ = "0.1.0"
