"""A config over many balancers and seeds, ending in a table and plots.

    python -m mtl_jax.sweep --config=configs/synthetic.py --workdir=runs/x \\
        --balancers=ew,pcgrad,cagrad:c=0.4 --levels=params,features --seeds=0,1 \\
        [--jobs=1] [--baselines=auto] [--config.schedule.num_steps=300 ...]
    python -m mtl_jax.sweep --report runs/x

Each combination is one run of ``python -m mtl_jax.main`` in its own workdir,
``runs/x/<method>[-<level>]/seed<k>``, with the sweep's ``--config.*``
overrides and its own ``balancer.name``, ``balancer.kwargs`` (``name:key=value:...``),
``balancer.level`` and ``seed``. A loss-level method (ew, uw, dwa, rlw, gls,
famo, imtl_l) takes no per-task gradients, so it runs once, at no level. Every
run is checked before the first starts (a bad override or option stops the
sweep in one line, naming it). A finished run is skipped and an interrupted one
resumes, so rerunning the command completes a sweep; ``--jobs=N`` runs N at a
time. A run that fails is reported with its log (``<run>/sweep.log``) and the
others go on.

Δm needs single-task results. ``--baselines``:

* ``auto`` (default): the config's ``eval.single_task_baselines`` when they
  resolve to numbers (the published ones for NYUv2 and Cityscapes as the field
  measures them, or files), else ``train``;
* ``train``: single-task runs of the same config and seeds
  (``model.name=single_task``, its other model options kept), in
  ``runs/x/single_task/seed<k>``; their mean over seeds is the baseline;
* ``none``: no Δm.

At the end (and with ``--report DIR``, from the finished runs alone)
``mtl_jax.sweep_report`` writes ``summary.md``, ``summary.csv`` and the plots.
The plan is kept in ``runs/x/sweep.json``.
"""

import dataclasses
import json
import os
import subprocess
import sys
import time
from typing import Optional, Sequence

from mtl_jax import balancers as balancers_lib
from mtl_jax import cli

PLAN_FILE = "sweep.json"
LOG_FILE = "sweep.log"
LEVELS = ("params", "features")
BASELINE_MODES = ("auto", "train", "none")
SINGLE_TASK = "single_task"
USAGE = __doc__.split("\n\n")[1]


class SweepError(ValueError):
  """A sweep that cannot start or report; the message is the one line to show."""


@dataclasses.dataclass(frozen=True)
class Run:
  """One combination: its label (``method[-level]``), seed, workdir and overrides."""
  label: str
  method: str
  level: Optional[str]
  seed: int
  workdir: str
  overrides: tuple[str, ...]

  def args(self, config_file: str) -> list[str]:
    return [f"--config={config_file}", f"--workdir={self.workdir}",
            *[f"--config.{o}" for o in self.overrides]]


def parse_method(entry: str) -> tuple[str, dict[str, str]]:
  """``"cagrad:c=0.4"`` -> ``("cagrad", {"c": "0.4"})``.

  >>> parse_method("cagrad:c=0.4:rescale=1")
  ('cagrad', {'c': '0.4', 'rescale': '1'})
  >>> parse_method("pcgrad:reduction")
  Traceback (most recent call last):
  ...
  mtl_jax.sweep.SweepError: --balancers: 'pcgrad:reduction': an option is key=value
  """
  name, *options = entry.strip().split(":")
  kwargs = {}
  for option in options:
    key, sep, value = option.partition("=")
    if not sep or not key:
      raise SweepError(f"--balancers: {entry!r}: an option is key=value")
    kwargs[key] = value
  if name not in balancers_lib.REGISTRY:
    raise SweepError(f"--balancers: unknown balancer {name!r}; known:"
                     f" {', '.join(sorted(balancers_lib.REGISTRY))}")
  return name, kwargs


def is_loss_level(name: str) -> bool:
  """Whether a balancer needs only the task losses (then its level is irrelevant)."""
  return not balancers_lib.get(name, num_tasks=2).needs_task_grads


def _label(name: str, kwargs: dict[str, str], level: Optional[str]) -> str:
  options = "".join(f"_{k}={v}" for k, v in kwargs.items())
  return f"{name}{options}" + (f"-{level}" if level else "")


def plan(workdir: str, methods: Sequence[str], levels: Sequence[str], seeds: Sequence[int],
         overrides: Sequence[str], train_baselines: bool) -> list[Run]:
  """Every run of the sweep, single-task baselines first.

  >>> [r.label for r in plan("w", ["ew", "pcgrad"], ["params", "features"], [0], [], False)]
  ['ew', 'pcgrad-params', 'pcgrad-features']
  >>> run = plan("w", ["cagrad:c=0.4"], ["features"], [1], ["schedule.num_steps=9"], False)[0]
  >>> run.workdir, run.overrides  # doctest: +NORMALIZE_WHITESPACE
  ('w/cagrad_c=0.4-features/seed1', ('schedule.num_steps=9', 'balancer.name=cagrad',
   'balancer.level=features', 'seed=1', 'balancer.kwargs.c=0.4'))
  """
  runs = []
  if train_baselines:
    for seed in seeds:
      runs.append(Run(SINGLE_TASK, SINGLE_TASK, None, seed,
                      os.path.join(workdir, SINGLE_TASK, f"seed{seed}"),
                      (*overrides, f"model.name={SINGLE_TASK}", "balancer.name=ew",
                       f"seed={seed}", "eval.single_task_baselines=none")))
  seen = set()
  for entry in methods:
    name, kwargs = parse_method(entry)
    for level in ([None] if is_loss_level(name) else levels):
      label = _label(name, kwargs, level)
      if label in seen:
        continue
      seen.add(label)
      for seed in seeds:
        extra = [f"balancer.name={name}"] + ([f"balancer.level={level}"] if level else [])
        extra += [f"seed={seed}"] + [f"balancer.kwargs.{k}={v}" for k, v in kwargs.items()]
        runs.append(Run(label, name, level, seed, os.path.join(workdir, label, f"seed{seed}"),
                        (*overrides, *extra)))
  return runs


def finished(run_workdir: str) -> bool:
  """Whether the run's ``final.json`` holds its last step (from ``config.json``)."""
  try:
    with open(os.path.join(run_workdir, "config.json")) as f:
      num_steps = json.load(f)["schedule"]["num_steps"]
    with open(os.path.join(run_workdir, "final.json")) as f:
      return json.load(f)["last"]["step"] >= num_steps
  except (OSError, ValueError, KeyError, TypeError):
    return False


def check(config_file: str, runs: Sequence[Run], build: bool = True) -> list:
  """Loads every run's config with its overrides and checks it as ``mtl_jax.main`` would,
  up to the data (``build.experiment`` without data; ``build=False``: the command line
  alone); ``SweepError`` naming the run and the key. Returns the distinct
  ``config.dataset`` sections the runs read."""
  from mtl_jax import build as build_lib  # pylint: disable=g-import-not-at-top
  datasets = {}
  for run in runs:
    try:
      config, _ = cli.load(run.args(config_file))
      if build:
        build_lib.experiment(config, with_data=False)
    except (cli.CommandLineError, build_lib.ConfigError) as e:
      raise SweepError(f"run {run.label} seed {run.seed}: {e}") from e
    datasets.setdefault(config.dataset.to_json_best_effort(sort_keys=True), config.dataset)
  return list(datasets.values())


def prepare(datasets: Sequence, config_file: str) -> None:
  """Builds each dataset once, before any run starts (runs started together would race
  to build it); ``SweepError`` naming a data problem."""
  from mtl_jax import data  # pylint: disable=g-import-not-at-top
  for dataset in datasets:
    try:
      data.prepare(dataset)
    except data.DataError as e:
      raise SweepError(f"dataset {dataset.name!r} of {config_file}: {e}") from e


def _start(run: Run, config_file: str) -> subprocess.Popen:
  os.makedirs(run.workdir, exist_ok=True)
  log = open(os.path.join(run.workdir, LOG_FILE), "a")  # pylint: disable=consider-using-with
  command = [sys.executable, "-m", "mtl_jax.main", *run.args(config_file)]
  log.write(f"# {' '.join(command)}\n")
  log.flush()
  return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)


def execute(runs: Sequence[Run], config_file: str, jobs: int = 1,
            echo=lambda message: print(message, flush=True)) -> list[Run]:
  """Runs what is not finished, ``jobs`` at a time; returns the runs that failed."""
  todo = [run for run in runs if not finished(run.workdir)]
  for run in runs:
    if run not in todo:
      echo(f"[done] {run.label} seed {run.seed}")
  active, failed = [], []
  total, started = len(todo), 0
  while todo or active:
    while todo and len(active) < jobs:
      run = todo.pop(0)
      started += 1
      echo(f"[{started}/{total}] {run.label} seed {run.seed} -> {run.workdir}")
      active.append((run, _start(run, config_file), time.time()))
    time.sleep(0.5)
    for entry in list(active):
      run, proc, began = entry
      if proc.poll() is None:
        continue
      active.remove(entry)
      if proc.returncode or not finished(run.workdir):
        failed.append(run)
        echo(f"[failed] {run.label} seed {run.seed} (exit status {proc.returncode});"
             f" see {os.path.join(run.workdir, LOG_FILE)}")
      else:
        echo(f"[finished] {run.label} seed {run.seed} in {time.time() - began:.0f} s")
  return failed


def write_plan(workdir: str, config_file: str, runs: Sequence[Run], baselines: str,
               overrides: Sequence[str]) -> None:
  os.makedirs(workdir, exist_ok=True)
  record = {"config": config_file, "overrides": list(overrides), "baselines": baselines,
            "runs": [dataclasses.asdict(run) for run in runs]}
  tmp = os.path.join(workdir, PLAN_FILE + ".tmp")
  with open(tmp, "w") as f:
    json.dump(record, f, indent=1)
  os.replace(tmp, os.path.join(workdir, PLAN_FILE))


def read_plan(workdir: str) -> dict:
  path = os.path.join(workdir, PLAN_FILE)
  try:
    with open(path) as f:
      record = json.load(f)
  except (OSError, ValueError) as e:
    raise SweepError(f"{path}: no sweep plan to report from ({e})") from e
  record["runs"] = [Run(**{**r, "overrides": tuple(r["overrides"])}) for r in record["runs"]]
  return record


def _resolve_baselines(mode: str, config_file: str, overrides: Sequence[str]) -> str:
  """``auto`` -> ``config`` (the config's baselines resolve to numbers) or ``train``."""
  if mode != "auto":
    return mode
  from mtl_jax import baselines as baselines_lib  # pylint: disable=g-import-not-at-top
  from mtl_jax import data  # pylint: disable=g-import-not-at-top
  config, _ = cli.load([f"--config={config_file}", "--workdir=unused",
                        *[f"--config.{o}" for o in overrides]])
  spec = (config.eval.single_task_baselines or "none").strip()
  if spec == "none":
    return "train"
  if spec == "published":
    return "config" if baselines_lib.published(config.dataset, data.info(config.dataset)) else (
        "train")
  return "config"


def _split_args(argv: Sequence[str]) -> tuple[dict[str, str], list[str]]:
  """``--name=value`` flags and the ``--config.*`` overrides (without ``--config.``)."""
  known = {"config", "workdir", "balancers", "levels", "seeds", "jobs", "baselines", "report"}
  values, overrides = {}, []
  argv = list(argv)
  while argv:
    arg = argv.pop(0)
    if arg.startswith("--config."):
      overrides.append(arg[len("--config."):])
      continue
    name, sep, value = arg[2:].partition("=")
    if not sep and argv and not argv[0].startswith("--"):
      sep, value = "=", argv.pop(0)  # --name value
    if not arg.startswith("--") or name not in known or not sep:
      raise SweepError(f"unexpected argument {arg!r}; usage:\n{USAGE}")
    values[name] = value
  return values, overrides


def _list(values: dict[str, str], name: str, default: str) -> list[str]:
  return [v.strip() for v in values.get(name, default).split(",") if v.strip()]


def parse(argv: Sequence[str]) -> tuple[dict[str, str], list[str], list[Run]]:
  """The command line as ``(flags, overrides, runs)`` (no runs with ``--report``)."""
  values, overrides = _split_args(argv)
  if "report" in values:
    return values, overrides, []
  for required in ("config", "workdir", "balancers"):
    if required not in values:
      raise SweepError(f"--{required} is needed; usage:\n{USAGE}")
  levels = _list(values, "levels", "params")
  for level in levels:
    if level not in LEVELS:
      raise SweepError(f"--levels: unknown level {level!r}; known: {', '.join(LEVELS)}")
  try:
    seeds = [int(s) for s in _list(values, "seeds", "0")]
    jobs = int(values.get("jobs", "1"))
  except ValueError as e:
    raise SweepError(f"--seeds and --jobs take integers ({e})") from e
  if jobs < 1 or not seeds or min(seeds) < 0:
    raise SweepError("--jobs must be >= 1 and --seeds non-negative integers")
  mode = values.get("baselines", "auto")
  if mode not in BASELINE_MODES:
    raise SweepError(f"--baselines: unknown value {mode!r}; known: {', '.join(BASELINE_MODES)}")
  config_file, workdir = values["config"], values["workdir"]
  try:
    mode = _resolve_baselines(mode, config_file, overrides)
  except cli.CommandLineError as e:
    raise SweepError(str(e)) from e
  values.update(baselines=mode, jobs=str(jobs))
  runs = plan(workdir, _list(values, "balancers", ""), levels, seeds, overrides,
              train_baselines=mode == "train")
  return values, overrides, runs


def main(argv: Sequence[str]) -> int:
  """The command; returns its exit status (0: every run finished)."""
  from mtl_jax import sweep_report  # pylint: disable=g-import-not-at-top
  values, overrides, runs = parse(argv)
  if "report" in values:
    for path in sweep_report.write(values["report"]):
      print(path)
    return 0
  config_file, workdir = values["config"], values["workdir"]
  mode, jobs = values["baselines"], int(values["jobs"])
  prepare(check(config_file, runs), config_file)
  write_plan(workdir, config_file, runs, mode, overrides)
  failed = execute(runs, config_file, jobs)
  for path in sweep_report.write(workdir):
    print(path)
  if failed:
    print(f"{len(failed)} of {len(runs)} runs failed: "
          + ", ".join(f"{r.label} seed {r.seed}" for r in failed), file=sys.stderr)
    return 1
  return 0


def run_command(argv: Sequence[str]) -> int:
  """``main`` with its errors as one line (exit status 2)."""
  try:
    return main(argv)
  except SweepError as e:
    sys.stderr.write(f"mtl_jax.sweep: {e}\n")
    return cli.USAGE_ERROR


if __name__ == "__main__":
  # The module's own copy (the one mtl_jax.sweep_report raises from), not __main__'s.
  from mtl_jax import sweep as _sweep  # pylint: disable=g-import-not-at-top,import-self
  sys.exit(_sweep.run_command(sys.argv[1:]))
