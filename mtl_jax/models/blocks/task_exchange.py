"""DenseMTL's exchange for one target task: every source's attention terms fused into it."""

from typing import Mapping, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from mtl_jax.models.blocks.conv_block import ConvBlock, norm_layer
from mtl_jax.models.blocks.xtam import VARIANTS, XTAM


class TaskExchange(nn.Module):
  """Adds what the other tasks' features say to target task t's features at one stage.

  DenseMTL (Lopes, Vu, de Charette, WACV 2023). For every source task s ≠ t,
  with ``f_s``, ``f_t [B, H, W, C]`` the two tasks' decoder features, in the
  official code's form (``variant="official"``, its "SA, SxTAM, add" setting,
  that of every published configuration)::

      e_s     = relu(conv3x3(f_s))                        (feature extractor on s)
      SA_s    = conv3x3(e_s) ⊙ sigmoid(conv3x3(e_s))      (self-attention, C/2 channels, no bias)
      xTAM_s  = XTAM(f_t, e_s)                            (correlation-guided, zero at init)
      p_s     = P_s([SA_s, xTAM_s])                       (P: conv1x1-norm-ReLU, to C)
      out     = f_t + P([p_s for every s])                (fused and added)

  and in ``variant="mtl_jax"``, ours: ``e_s = ConvBlock(f_s)`` (conv-norm-ReLU),
  SA_s with biased convolutions and C channels, xTAM's ``"mtl_jax"`` variant, and
  ``out = f_t + conv1x1([SA_s, xTAM_s for every s])``, one linear projection.
  The output has the shape of ``f_t``. The switches drop a term from every
  pair (the paper's ablations); at least one must stay.

  Attributes:
    sources: the source tasks s, in a fixed order (the order of the concatenation).
    features: channels of e_s, of each term and of the output (those of ``f_t``).
    pool: XTAM's pooling factor.
    self_attention: include the self-attention term SA_s.
    cross_attention: include the cross-task term xTAM_s.
    norm: the normalisation kind of the blocks that have one.
    axis_name: data-parallel axis for batch norm.
    variant: ``"official"`` or ``"mtl_jax"``.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> module = TaskExchange(sources=("segmentation",), features=4, norm="none",
    ...                       variant="mtl_jax")
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
  variant: str = "official"

  def _project(self, x: jax.Array, name: str, train: bool) -> jax.Array:
    """The official code's ``Project``: conv1x1 (no bias before a norm), norm, ReLU."""
    normed = self.norm != "none"
    x = nn.Conv(self.features, (1, 1), use_bias=not normed, name=name)(x)
    x = norm_layer(self.norm, self.features, train, self.axis_name, name=f"{name}_norm")(x)
    return nn.relu(x)

  @nn.compact
  def __call__(self, target: jax.Array, sources: Mapping[str, jax.Array],
               train: bool) -> jax.Array:
    if not (self.self_attention or self.cross_attention):
      raise ValueError("TaskExchange needs self_attention or cross_attention (or both)")
    if self.variant not in VARIANTS:
      raise ValueError(f"task_exchange: unknown variant {self.variant!r}; known:"
                       f" {', '.join(VARIANTS)}")
    official = self.variant == "official"
    c = self.features
    pairs = []
    for s in self.sources:
      if official:
        e = nn.relu(nn.Conv(c, (3, 3), name=f"extract_{s}")(sources[s]))
      else:
        e = ConvBlock(c, norm=self.norm, axis_name=self.axis_name, name=f"extract_{s}")(
            sources[s], train)
      terms = []
      if self.self_attention:
        sa_channels, bias = (c // 2, False) if official else (c, True)
        values = nn.Conv(sa_channels, (3, 3), use_bias=bias, name=f"sa_features_{s}")(e)
        gate = nn.sigmoid(nn.Conv(sa_channels, (3, 3), use_bias=bias, name=f"sa_gate_{s}")(e))
        terms.append(values * gate)
      if self.cross_attention:
        terms.append(XTAM(c, self.pool, self.variant, self.norm, self.axis_name,
                          name=f"xtam_{s}")(target, e, train))
      pairs.append(self._project(jnp.concatenate(terms, axis=-1), f"project_{s}", train)
                   if official else jnp.concatenate(terms, axis=-1))
    merged = jnp.concatenate(pairs, axis=-1)
    if official:
      return target + self._project(merged, "project", train)
    return target + nn.Conv(c, (1, 1), name="project")(merged)
