"""MTRAN on synthetic scenes, trained with SemBoost's attention-driven loss.

    python -m mtl_jax.main --config=configs/synthetic_mtran_attention_loss.py \
        --workdir=/tmp/mtl_jax/synthetic_mtran_attention_loss

L_attention = L_DA + L_JG + L_semF (Jiao et al., ECCV 2018): the depth task's
loss is the depth-aware loss (smooth L1 weighted by the normalised ground-truth
depth and the log-ratio term) plus the joint gradient loss (Sobel gradients
against the ground truth and against the semantic map; the depth loss reads the
segmentation labels); the segmentation task's is the semantic focal loss
(γ = 2, α = 1 for every class). See docs/losses.md.
"""

from configs import synthetic


def get_config():
  config = synthetic.get_config()
  config.model.name = "mtran"
  config.tasks.depth.loss = "attention"
  config.tasks.depth.distance = "smooth_l1"
  config.tasks.segmentation.loss = "focal"
  config.tasks.segmentation.focal_gamma = 2.0
  return config
