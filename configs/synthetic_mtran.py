"""MTRAN on synthetic scenes, trained with IMTL-RWL as in Ji et al. (Algorithm 1).

    python -m mtl_jax.main --config=configs/synthetic_mtran.py \
        --workdir=/tmp/mtl_jax/synthetic_mtran

The shared conv encoder of ``synthetic_hps`` (widths 8..64); per task, residual
attention (CBAM) modules at every stage and a U-Net decoder. Algorithm 1 takes
the tasks' gradients of the shared feature: ``balancer.level="features"``.
The paper's ablations: ``--config.model.kwargs.attention=False`` (without
attention), ``--config.model.kwargs.residual=False`` (remove residuals),
``--config.balancer.name=imtl_g`` (IMTL without the random weights).
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model.name = "mtran"
  config.model.kwargs.encoder = "conv"
  config.model.kwargs.attention = True
  config.model.kwargs.residual = True
  config.balancer.name = "imtl_rwl"
  config.balancer.level = "features"
  config.eval.at_start = True
  return config
