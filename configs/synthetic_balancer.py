"""Hard sharing on synthetic scenes with any balancer: the method is the config's argument.

    python -m mtl_jax.main --config=configs/synthetic_balancer.py:cagrad \
        --workdir=/tmp/mtl_jax/cagrad
    python -m mtl_jax.main --config=configs/synthetic_balancer.py:mgda \
        --config.balancer.level=features --config.balancer.kwargs.normalization=loss+ \
        --workdir=/tmp/mtl_jax/mgda_features

Without an argument the method is ``imtl_rwl`` (the MTRAN paper's Algorithm 1).
``config.balancer.kwargs`` starts with the method's research options at their
defaults (torchjd's conventions; each balancer's docstring gives the others),
so any of them can be overridden on the command line. A sweep over every
method, both levels and two seeds starts from ``configs/synthetic.py`` (whose
balancer options are empty, so each method gets its own defaults):

    python -m mtl_jax.sweep --config=configs/synthetic.py --workdir=/tmp/mtl_jax/sweep \
        --balancers=ew,imtl_g,pcgrad,cagrad:c=0.4 --levels=params,features --seeds=0,1
"""

from ml_collections import config_dict

from configs import default

# method -> its options and their defaults (solver iteration limits and the
# learnable weightings' inner optimizer are left at the library's values);
# "heads" is what task-specific parameters receive (docs/balancers.md).
OPTIONS = {
    "ew": {"weight": 1.0},
    "uw": {"learning_rate": 1e-3, "init_log_var": 0.0, "form": "kendall"},
    "dwa": {"temperature": 2.0, "steps_per_period": 1},
    "rlw": {"distribution": "normal", "concentration": 1.0},
    "gls": {},
    "famo": {"learning_rate": 0.025, "weight_decay": 1e-3, "min_losses": 0.0},
    "imtl_l": {"learning_rate": 1e-3, "init_log_scale": 0.0},
    "imtl_g": {"heads": "own"},
    "imtl": {"learning_rate": 1e-3, "init_log_scale": 0.0, "heads": "weighted"},
    "imtl_rwl": {"concentration": 1.0, "heads": "weighted"},
    "mgda": {"normalization": "none", "heads": "weighted"},
    "pcgrad": {"reduction": "sum", "heads": "own"},
    "cagrad": {"c": 0.5, "rescale": 0, "heads": "own"},
    "graddrop": {"leak": config_dict.placeholder(tuple)},
    "nash_mtl": {"max_norm": 1.0, "update_weights_every": 1, "heads": "weighted"},
    "aligned_mtl": {"pref": config_dict.placeholder(tuple), "scale": "min", "heads": "own"},
    "upgrad": {"pref": config_dict.placeholder(tuple), "heads": "own"},
}


def get_config(method: str = "imtl_rwl"):
  config = default.get_config()
  config.eval.at_start = True
  config.balancer.name = method
  # An unknown method keeps empty options; start-up validation then names
  # config.balancer.name and lists the known methods.
  config.balancer.kwargs = config_dict.ConfigDict(OPTIONS.get(method, {}))
  return config
