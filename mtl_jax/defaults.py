"""Every config field and its default: what each experiment config starts from.

``get_config()`` is installed with the library, so a notebook or script needs
no ``configs/`` folder: ``config = mtl_jax.defaults.get_config()``, then set
fields. The repository's ``configs/default.py`` is this function; its other
files are experiments built on it. Configs are nested by concern; the library
resolves every name through one registry per concern and rejects unknown
values at start-up, naming the key.
"""

import ml_collections
from ml_collections import config_dict


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0

  config.dataset = ml_collections.ConfigDict()
  config.dataset.name = "synthetic_scenes"
  # None: the tfds default (~/tensorflow_datasets, or $TFDS_DATA_DIR).
  config.dataset.data_dir = config_dict.placeholder(str)
  # Where datasets built from user-downloaded files look for them (None: the
  # tfds default, <data_dir>/downloads/manual).
  config.dataset.manual_dir = config_dict.placeholder(str)
  # Split names as the builder calls them (nyuv2 and cityscapes call the releases'
  # val/ directory "test", the split the field evaluates on).
  config.dataset.train_split = "train"
  config.dataset.eval_split = "test"
  # Image size; None: the dataset's own (synthetic_scenes 96x128, nyuv2 288x384,
  # cityscapes 128x256). nyuv2 and cityscapes "preprocessed" check that their files
  # have it; cityscapes "official" resizes to it.
  config.dataset.height = config_dict.placeholder(int)
  config.dataset.width = config_dict.placeholder(int)
  # cityscapes only (None: "preprocessed", 7): the MTAN release or the official one,
  # and 7 categories or 19 classes.
  config.dataset.source = config_dict.placeholder(str)
  config.dataset.num_classes = config_dict.placeholder(int)
  # synthetic_scenes only: number of scenes and their seed.
  config.dataset.num_train = 2000
  config.dataset.num_test = 400
  config.dataset.scene_seed = 0

  config.input = ml_collections.ConfigDict()
  config.input.batch_size = 16  # Global batch, split over all devices.
  config.input.eval_batch_size = 32
  config.input.augment = True
  config.input.scales = (1.0, 1.2, 1.5)  # Random scale-crop factors.
  config.input.flip = True
  config.input.worker_count = 2  # grain worker processes (0: in-process).
  config.input.worker_buffer_size = 2
  # Per process (the main one and each worker): threads reading and decoding
  # records, and how many decoded records they hold ahead. grain's defaults (16
  # and 500) hold ~1 GB of NYUv2 examples per process and starve the
  # augmentation of CPU while they fill (4x fewer batches/s on 2 cores).
  config.input.read_threads = 2
  config.input.read_buffer_size = 16

  config.model = ml_collections.ConfigDict()
  config.model.name = "hps"
  # The compute dtype of training's forward and backward passes: "float32" or "bfloat16"
  # (parameters, optimizer state, batch statistics, losses and Gramians stay float32).
  config.model.dtype = "float32"
  # The network's options (docs/networks.md): any of them can be set here or with
  # --config.model.kwargs.<option>=<value>, and is checked against the network.
  config.model.kwargs = ml_collections.ConfigDict()
  config.model.kwargs.widths = (8, 16, 32, 64)
  config.model.kwargs.norm = "batch"
  # A wrapper around the network (None: none): "self_regulation" (training-time
  # exits on every block) or "hmsa" (multi-scale attention); its options below,
  # e.g. exit_width, or tasks / train_scale / attention_width / attention_stage.
  config.model.wrapper = config_dict.placeholder(str)
  # ImageNet weights for the encoder (resnet50_dilated or segnet at full width): a
  # torchvision state dict, .pth (needs torch) or .safetensors; with
  # model.kwargs.input_norm="imagenet" (mtl_jax/backbone.py).
  config.model.pretrained = config_dict.placeholder(str)
  config.model.wrapper_kwargs = ml_collections.ConfigDict()  # Options, as model.kwargs.

  config.tasks = ml_collections.ConfigDict()
  config.tasks.names = ("segmentation", "depth", "normals")
  config.tasks.segmentation = ml_collections.ConfigDict({"ignore_label": -1})
  # "ce" or "focal" (SemBoost's semantic focal loss: focal_gamma, focal_alpha
  # with one weight per class, None for ones).
  config.tasks.segmentation.loss = "ce"
  config.tasks.segmentation.focal_gamma = 2.0
  config.tasks.segmentation.focal_alpha = config_dict.placeholder(tuple)
  # Self-Regulation's loss (used with config.model.wrapper="self_regulation"):
  # (λ1 image-level, λ2 pixel-level, λ3 SR-F and SR-L), temperature, MEA-only warm-up.
  config.tasks.segmentation.sr_lambdas = (0.2, 0.8, 1.0)
  config.tasks.segmentation.sr_temperature = 1.0
  config.tasks.segmentation.sr_warmup_steps = 0
  # "paper" (feature and pixel KL terms) or "script" (the authors' public script's SR-F:
  # cross-entropy against the shallowest exit's argmax; SR-L: image-level BCE).
  config.tasks.segmentation.sr_form = "paper"
  # "l1" or "attention" (SemBoost's depth-aware + joint gradient loss, with the
  # distance "smooth_l1" (smooth_l1_beta), "l1" or "l2"; reads the segmentation labels).
  config.tasks.depth = ml_collections.ConfigDict(
      {"loss": "l1", "distance": "smooth_l1", "smooth_l1_beta": 1.0})
  # Valid ground truth: "channel_sum" (MTAN's mask, components summing to non-zero) or
  # "nonzero" (any component non-zero).
  config.tasks.normals = ml_collections.ConfigDict({"bin_width_degrees": 0.01,
                                                    "valid": "channel_sum"})
  # DenseMTL's edges: class weights (1 - pos_weight, pos_weight); labels "dataset" (the
  # dataset's edge maps) or "segmentation" (semantic boundaries, derived in the step);
  # None: the dataset's where it has them, else derived.
  config.tasks.edges = ml_collections.ConfigDict({"pos_weight": 0.95})
  config.tasks.edges.labels = config_dict.placeholder(str)

  config.balancer = ml_collections.ConfigDict()
  config.balancer.name = "ew"
  # The balancer's options (docs/balancers.md), e.g. --config.balancer.kwargs.c=0.4
  # for cagrad; checked against the balancer named above.
  config.balancer.kwargs = ml_collections.ConfigDict()
  config.balancer.level = "params"  # "params" or "features".
  # Route a loss-level method through the per-task gradients anyway.
  config.balancer.force_task_grads = False

  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.name = "adam"
  config.optimizer.learning_rate = 1e-3
  config.optimizer.weight_decay = 0.0
  config.optimizer.grad_clip_norm = 0.0  # 0: no clipping.
  # The encoder's learning rate relative to the rest (e.g. 0.1 for a pretrained backbone).
  config.optimizer.backbone_lr_scale = 1.0
  # Skip a step whose losses, gradients or new state are not finite (the whole state stays
  # as it was) instead of stopping the run; it stops after 10 skipped steps in a row.
  config.optimizer.skip_nonfinite = False

  config.schedule = ml_collections.ConfigDict()
  config.schedule.num_steps = 2000
  # Epochs of the train split, converted to steps at start-up (ceil(examples / global
  # batch) steps per epoch, mtl_jax.epochs); when set, each replaces its step field.
  config.schedule.num_epochs = config_dict.placeholder(float)
  config.schedule.step_every_epochs = config_dict.placeholder(float)
  config.schedule.decay = "cosine"  # "constant", "cosine" or "step".
  config.schedule.warmup_steps = 100
  config.schedule.step_every = 0  # "step" decay: multiply by step_factor every N steps.
  config.schedule.step_factor = 0.5
  config.schedule.log_every = 50
  config.schedule.checkpoint_every = 500
  config.schedule.checkpoint_every_epochs = config_dict.placeholder(float)  # Replaces it.

  config.eval = ml_collections.ConfigDict()
  config.eval.every_steps = 500
  config.eval.every_epochs = config_dict.placeholder(float)  # When set, replaces every_steps.
  config.eval.max_batches = 0  # 0: the whole split.
  config.eval.at_start = False  # Also evaluate the untrained network (step 0).
  # At each evaluation, the first N test images with their ground truth and predictions
  # go to <workdir>/predictions.png and TensorBoard (0: none).
  config.eval.num_images = 4
  # Δm of every evaluation is taken against these single-task results: "published"
  # (the numbers the field quotes, where known for the dataset as configured; see
  # mtl_jax/baselines.py), "none", or comma-separated JSON files of
  # {"task/metric": value} (e.g. the final.json of single-task runs).
  config.eval.single_task_baselines = "published"
  # final.json reports the last evaluation and the mean of the last N (the field: 10).
  config.eval.summary_window = 10
  # Multi-scale evaluation (empty: the network's own prediction only): metrics
  # "<task>/<metric>@<fusion>" for each fusion, "average" (any network) or
  # "attention" (config.model.wrapper="hmsa"), over these image scales.
  config.eval.scales = ()
  config.eval.fusions = ("average",)
  # "split": every metric accumulated over the whole split (mtl_jax's); "per_batch": also the
  # field's protocol behind the published tables, "<task>/<metric>@per_batch" and
  # "delta_m@per_batch": depth and normal metrics of each group of per_batch_size
  # consecutive examples (their test batch), averaged over the groups.
  config.eval.protocol = "split"
  config.eval.per_batch_size = 2

  config.parallel = ml_collections.ConfigDict()
  config.parallel.mode = "pmap"  # "pmap" or "shard_map".
  config.parallel.num_devices = config_dict.placeholder(int)  # None: all devices.
  # Parameter level: each device sums a 1/D shard of the per-task gradients (Gramian and
  # loss-level methods; the same update, 1/D of their memory).
  config.parallel.shard_task_grads = True
  config.parallel.distributed = False  # Multi-host: jax.distributed.initialize() first.
  # None = detected from the cluster (Slurm, Open MPI, Cloud TPU); elsewhere all
  # three, e.g. "127.0.0.1:1234", 2 and 0 (1 in the second process).
  config.parallel.coordinator_address = config_dict.placeholder(str)
  config.parallel.num_processes = config_dict.placeholder(int)
  config.parallel.process_id = config_dict.placeholder(int)

  config.checkpoint = ml_collections.ConfigDict()
  config.checkpoint.max_to_keep = 2
  # Resuming a workdir checks the config against its config.json: comma-separated keys
  # (or key prefixes) listed here may differ from it, e.g. "optimizer.learning_rate".
  config.checkpoint.allow_changes = ""
  return config
