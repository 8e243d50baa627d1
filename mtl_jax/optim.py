"""The optimizer and learning-rate schedule, built from ``config.optimizer`` and ``config.schedule``."""

import ml_collections
import optax

# name -> optax factory(learning_rate, **kwargs). The one place optimizer names resolve.
OPTIMIZERS = {
    "adam": optax.adam,
    "adamw": optax.adamw,
    "sgd": optax.sgd,
}
DECAYS = ("constant", "cosine", "step")


def schedule(config: ml_collections.ConfigDict, scale: float = 1.0) -> optax.Schedule:
  """Linear warm-up, then constant, cosine or step decay of the learning rate (times ``scale``).

  "step" multiplies the rate by ``schedule.step_factor`` every
  ``schedule.step_every`` steps (StepLR; the papers halve it once, at half time).
  """
  lr, sched = config.optimizer.learning_rate * scale, config.schedule
  warmup = sched.warmup_steps
  if sched.decay == "constant":
    after = optax.constant_schedule(lr)
  elif sched.decay == "cosine":
    after = optax.cosine_decay_schedule(lr, max(sched.num_steps - warmup, 1))
  elif sched.decay == "step":
    every = sched.step_every or max(sched.num_steps // 2, 1)
    after = optax.exponential_decay(lr, every, sched.step_factor, staircase=True)
  else:
    raise ValueError(f"config.schedule.decay: unknown {sched.decay!r}; known: {', '.join(DECAYS)}")
  if not warmup:
    return after
  return optax.join_schedules([optax.linear_schedule(0.0, lr, warmup), after], [warmup])


def optimizer(config: ml_collections.ConfigDict,
              backbone_labels=None) -> optax.GradientTransformation:
  """The optax optimizer named by ``config.optimizer.name`` with the schedule above.

  With ``config.optimizer.backbone_lr_scale`` other than 1 and ``backbone_labels``
  (``params -> {leaf: "backbone" | "rest"}``, ``mtl_jax.backbone.labels``), the
  backbone's leaves get the same optimizer at the scaled learning rate
  (``optax.multi_transform``); clipping, when set, still sees every gradient.
  """
  opt = config.optimizer
  kwargs = {"weight_decay": opt.weight_decay} if opt.name == "adamw" else {}
  scale = opt.get("backbone_lr_scale", 1.0)
  if scale != 1.0 and backbone_labels is not None:
    tx = optax.multi_transform({"backbone": OPTIMIZERS[opt.name](schedule(config, scale), **kwargs),
                                "rest": OPTIMIZERS[opt.name](schedule(config), **kwargs)},
                               backbone_labels)
  else:
    tx = OPTIMIZERS[opt.name](schedule(config), **kwargs)
  if opt.name != "adamw" and opt.weight_decay:
    tx = optax.chain(optax.add_decayed_weights(opt.weight_decay), tx)
  if opt.grad_clip_norm:
    tx = optax.chain(optax.clip_by_global_norm(opt.grad_clip_norm), tx)
  return tx
