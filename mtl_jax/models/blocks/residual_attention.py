"""MTRAN's residual attention module: add the global feature, CBAM, residual connection."""

from typing import Optional

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
    cbam: CBAM's variant, ``"official"`` or ``"paper"`` (see ``CBAM``).
    norm: the norm of CBAM's official spatial attention.
    axis_name: the data-parallel axis batch norm synchronises over (or None).

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
  cbam: str = "official"
  norm: str = "batch"
  axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, task: jax.Array, shared: jax.Array, train: bool = False) -> jax.Array:
    attended = task + shared
    if self.attention:
      attended = CBAM(self.reduction, variant=self.cbam, norm=self.norm,
                      axis_name=self.axis_name, name="cbam")(attended, train)
    return task + attended if self.residual else attended
