"""MTAN at its published size."""

import jax
import jax.numpy as jnp
import numpy as np

from mtl_jax.models.networks.mtan import MTAN


def test_parameter_count_at_the_published_size():
  """SegNet-MTAN on Cityscapes' two tasks: 41.21M parameters (Ji et al.'s Table; MTAN's code).

  MTAN's PyTorch convolutions have biases before their batch norms, ours do not
  (a batch norm's shift makes them redundant): one bias per batch-norm channel.
  """
  model = MTAN(task_channels={"segmentation": 7, "depth": 1})  # widths 64..512, five blocks
  x = jax.ShapeDtypeStruct((1, 32, 32, 3), jnp.float32)
  params = jax.eval_shape(lambda x: model.init(jax.random.PRNGKey(0), x, train=False), x)["params"]
  leaves = jax.tree_util.tree_flatten_with_path(params)[0]
  ours = sum(int(np.prod(p.shape)) for _, p in leaves)
  biases = sum(int(np.prod(p.shape)) for path, p in leaves
               if jax.tree_util.keystr(path).endswith("['scale']"))
  assert round((ours + biases) / 1e6, 2) == 41.21
