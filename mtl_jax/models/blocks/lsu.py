"""SemBoost's lateral sharing unit between the depth and segmentation decoders."""

import flax.linen as nn
import jax


class LSU(nn.Module):
  """Lateral sharing unit (Jiao, Cao, Song, Lau, "Look Deeper into Depth", ECCV 2018).

  Between two successive up-convolutions of the depth and segmentation decoders,
  with ``D1``, ``S1 [B, H, W, C]`` the two decoders' features:

      LSU_D2 = D1 + (phi_D * D1 + phi_S * S1)
      LSU_S2 = S1 + (gamma_D * D1 + gamma_S * S1)

  four learnable scalars per unit (each unit has its own). The identity paths
  keep each task's own features whatever the weights (the paper's guard against
  "feature pollution"). The weights start at ``init_value`` (default 0: the
  unit starts as the identity, the two decoders independent, and the weights
  get a non-zero gradient, so sharing is learned in; the paper does not say).

  Attributes:
    init_value: initial value of the four weights.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> d, s = jnp.full((1, 1, 1, 1), 2.0), jnp.full((1, 1, 1, 1), 3.0)
    >>> params = {"phi_d": 0.5, "phi_s": 1.0, "gamma_d": -1.0, "gamma_s": 0.0}
    >>> d2, s2 = LSU().apply({"params": params}, d, s)
    >>> float(d2[0, 0, 0, 0]), float(s2[0, 0, 0, 0])  # 2 + (1 + 3), 3 + (-2 + 0)
    (6.0, 1.0)
  """
  init_value: float = 0.0

  @nn.compact
  def __call__(self, d: jax.Array, s: jax.Array) -> tuple[jax.Array, jax.Array]:
    if d.shape != s.shape:
      raise ValueError(f"LSU needs depth and segmentation features of one shape,"
                       f" got {d.shape} and {s.shape}")
    weight = lambda name: self.param(name, nn.initializers.constant(self.init_value), (), d.dtype)
    phi_d, phi_s = weight("phi_d"), weight("phi_s")
    gamma_d, gamma_s = weight("gamma_d"), weight("gamma_s")
    return d + (phi_d * d + phi_s * s), s + (gamma_d * d + gamma_s * s)
