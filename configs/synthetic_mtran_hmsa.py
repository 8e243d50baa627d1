"""MTRAN on synthetic scenes with hierarchical multi-scale attention on segmentation.

    python -m mtl_jax.main --config=configs/synthetic_mtran_hmsa.py \
        --workdir=/tmp/mtl_jax/synthetic_mtran_hmsa

Tao et al., 2020: an attention head beside the segmentation head, trained on
the scale pair (0.5, 1); evaluation reports the network alone (scale 1), the
average over scales 0.5, 1 and 2, and their attention fusion (2 is never seen
in training), as ``segmentation/miou``, ``segmentation/miou@average`` and
``segmentation/miou@attention``. Add depth to the fused tasks with
``--config.model.wrapper_kwargs.tasks="('segmentation','depth')"``. See
docs/losses.md.
"""

from configs import synthetic


def get_config():
  config = synthetic.get_config()
  config.model.name = "mtran"
  config.model.wrapper = "hmsa"
  config.model.wrapper_kwargs.tasks = ("segmentation",)
  config.model.wrapper_kwargs.train_scale = 0.5
  config.model.wrapper_kwargs.attention_width = 16
  config.eval.scales = (0.5, 1.0, 2.0)
  config.eval.fusions = ("average", "attention")
  return config
