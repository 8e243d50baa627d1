"""DenseMTL's exchange for one target task: every source's attention terms fused into it."""

from typing import Mapping, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from mtl_jax.models.blocks.conv_block import ConvBlock
from mtl_jax.models.blocks.xtam import XTAM


class TaskExchange(nn.Module):
  """Adds what the other tasks' features say to target task t's features at one stage.

  DenseMTL (Lopes, Vu, de Charette, WACV 2023). For every source task s ≠ t,
  with ``f_s``, ``f_t [B, H, W, C]`` the two tasks' decoder features:

      e_s     = ConvBlock(f_s)                            (feature extractor on s)
      SA_s    = conv3x3(e_s) ⊙ sigmoid(conv3x3(e_s))      (self-attention, two convs)
      xTAM_s  = XTAM(f_t, e_s)                            (correlation-guided, zero at init)
      out     = f_t + conv1x1([SA_s, xTAM_s for every s])  (concatenated, projected, added)

  so the output has the shape of ``f_t``. The switches drop a term from every
  pair (the paper's ablations); at least one must stay.

  Attributes:
    sources: the source tasks s, in a fixed order (the order of the concatenation).
    features: channels of e_s, of each term and of the output (those of ``f_t``).
    pool: XTAM's pooling factor.
    self_attention: include the self-attention term SA_s.
    cross_attention: include the cross-task term xTAM_s.
    norm: the extractor's normalisation kind.
    axis_name: data-parallel axis for batch norm.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> module = TaskExchange(sources=("segmentation",), features=4, norm="none")
    >>> f_t, f_s = jnp.ones((1, 4, 4, 4)), jnp.ones((1, 4, 4, 4))
    >>> shapes = jax.eval_shape(
    ...     lambda: module.init_with_output(jax.random.key(0), f_t, {"segmentation": f_s},
    ...                                     train=False))
    >>> shapes[0].shape
    (1, 4, 4, 4)
    >>> print(*sorted(shapes[1]["params"]))
    extract_segmentation project sa_features_segmentation sa_gate_segmentation xtam_segmentation
  """
  sources: Sequence[str]
  features: int
  pool: int = 1
  self_attention: bool = True
  cross_attention: bool = True
  norm: str = "batch"
  axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, target: jax.Array, sources: Mapping[str, jax.Array],
               train: bool) -> jax.Array:
    if not (self.self_attention or self.cross_attention):
      raise ValueError("TaskExchange needs self_attention or cross_attention (or both)")
    c = self.features
    terms = []
    for s in self.sources:
      e = ConvBlock(c, norm=self.norm, axis_name=self.axis_name, name=f"extract_{s}")(
          sources[s], train)
      if self.self_attention:
        values = nn.Conv(c, (3, 3), name=f"sa_features_{s}")(e)
        gate = nn.sigmoid(nn.Conv(c, (3, 3), name=f"sa_gate_{s}")(e))
        terms.append(values * gate)
      if self.cross_attention:
        terms.append(XTAM(c, self.pool, name=f"xtam_{s}")(target, e))
    return target + nn.Conv(c, (1, 1), name="project")(jnp.concatenate(terms, axis=-1))
