"""mtl_jax: dense multi-task scene understanding in JAX/Flax.

Subpackages: ``balancers`` (gradient balancers as optax transformations),
``models`` (Flax networks), ``tasks`` (losses and metric accumulators),
``data`` (tfds datasets and the grain input pipeline). A run's path:
``schema`` (the config's checks) and ``build`` (everything built once, in the
order the data needs), ``task_grads`` (the step's gradients), ``train`` (the
step, the loop, ``train_and_evaluate`` and ``restore``), ``evaluate``;
``main`` and ``cli`` are the command line. Importing does nothing else.
"""

__version__ = "0.1.0"
