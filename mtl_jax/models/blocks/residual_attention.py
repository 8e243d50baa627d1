"""MTRAN's residual attention module: add the global feature, CBAM, residual connection."""

import flax.linen as nn
import jax

from mtl_jax.models.blocks.cbam import CBAM


class ResidualAttention(nn.Module):
  """``out = f + CBAM(f + g)`` for a task feature ``f`` and the shared feature ``g``.

  Ji et al. (Sensors 2023), section 3.3: the global (shared) feature is added
  to the task feature "to emphasize global features", CBAM extracts the
  features of interest, and a residual connection from the task feature keeps
  the training fast and stable. Both inputs and the output are
  ``[B, H, W, C]``. The paper's ablations:

  * ``attention=False`` ("without attention"): CBAM is the identity,
    ``out = f + (f + g)``; the module then has no parameters.
  * ``residual=False`` ("remove residuals"): ``out = CBAM(f + g)``; same
    parameters.

  Attributes:
    attention: whether CBAM is applied.
    residual: whether the task feature is added back.
    reduction: CBAM's channel reduction ratio.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> f, g = jnp.ones((1, 4, 4, 8)), jnp.zeros((1, 4, 4, 8))
    >>> module = ResidualAttention(attention=False)
    >>> float(jax.jit(module.apply)({}, f, g)[0, 0, 0, 0])  # f + (f + g)
    2.0
  """
  attention: bool = True
  residual: bool = True
  reduction: int = 16

  @nn.compact
  def __call__(self, task: jax.Array, shared: jax.Array) -> jax.Array:
    attended = task + shared
    if self.attention:
      attended = CBAM(self.reduction, name="cbam")(attended)
    return task + attended if self.residual else attended
