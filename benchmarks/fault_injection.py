"""Kills a tiny run at random moments and checks that every rerun ends as an uninterrupted one.

    python -m benchmarks.fault_injection --trials=10 --workdir=/tmp/mtl_jax/faults

Trains ``configs/tiny.py`` (its own dataset directory under ``--workdir``) once
without interruption, then ``--trials`` times: starts the same run, sends
``--signal`` (SIGKILL by default: no chance to clean up) at a moment drawn
uniformly from the uninterrupted run's wall time, optionally damages the newest
checkpoint (``--damage``: truncate or flip bytes in its largest data file),
reruns until the run completes (killing again with probability
``--kill_again``), and compares ``metrics.jsonl``, ``final.json`` and the final
state, bit for bit, with the uninterrupted run. Prints one line per trial and
``N trials, M identical``. Moments and damage come from ``--seed``.

``--worker_count=2`` runs the input pipeline in worker processes (and checks
none is left alive after a kill).
"""

import glob
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
from absl import app
from absl import flags

_TRIALS = flags.DEFINE_integer("trials", 10, "Interrupted runs.")
_WORKDIR = flags.DEFINE_string("workdir", "/tmp/mtl_jax/faults", "Where the runs go.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the kill moments and the damage.")
_SIGNAL = flags.DEFINE_enum("signal", "SIGKILL", ["SIGKILL", "SIGTERM", "SIGINT"],
                            "The signal that interrupts a run.")
_DAMAGE = flags.DEFINE_enum("damage", "none", ["none", "truncate", "flip"],
                            "What to do to the newest checkpoint after a kill.")
_KILL_AGAIN = flags.DEFINE_float("kill_again", 0.3, "Probability of killing a rerun too.")
_EARLIEST = flags.DEFINE_float("earliest", 0.0, "Kill moments are drawn from [earliest, 1] of"
                               " the uninterrupted wall time (0.6 with --damage: checkpoints"
                               " exist by then).")
_STEPS = flags.DEFINE_integer("steps", 12, "Steps of the tiny run.")
_WORKERS = flags.DEFINE_integer("worker_count", 0, "config.input.worker_count of the runs.")

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _command(workdir: str) -> list[str]:
  return [sys.executable, "-m", "mtl_jax.main", "--config=configs/tiny.py",
          f"--workdir={workdir}", f"--config.dataset.data_dir={_WORKDIR.value}/tfds",
          f"--config.schedule.num_steps={_STEPS.value}", "--config.schedule.checkpoint_every=2",
          "--config.eval.every_steps=3", f"--config.input.worker_count={_WORKERS.value}"]


def _run(workdir: str, kill_after: float | None = None) -> tuple[int, float, str]:
  """Runs to the end, or sends the signal after ``kill_after`` seconds; (status, seconds,
  the last line of stderr)."""
  start = time.time()
  proc = subprocess.Popen(_command(workdir), cwd=_ROOT, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
  try:
    _, err = proc.communicate(timeout=kill_after)
  except subprocess.TimeoutExpired:
    proc.send_signal(getattr(signal, _SIGNAL.value))
    _, err = proc.communicate()
  last = (err.strip().splitlines() or [""])[-1]
  return proc.returncode, time.time() - start, last


def _damage(workdir: str, rng: random.Random) -> str:
  steps = sorted((d for d in os.listdir(f"{workdir}/checkpoints") if d.isdigit()), key=int)
  if not steps or _DAMAGE.value == "none":
    return ""
  files = glob.glob(f"{workdir}/checkpoints/{steps[-1]}/state/**/d/*", recursive=True)
  if not files:
    return ""
  path = max(files, key=os.path.getsize)
  data = bytearray(open(path, "rb").read())
  if _DAMAGE.value == "truncate":
    data = data[:rng.randrange(len(data))]
  else:
    at = rng.randrange(max(1, len(data) - 8))
    data[at:at + 8] = bytes(b ^ 0xFF for b in data[at:at + 8])
  open(path, "wb").write(bytes(data))
  return f", {_DAMAGE.value} checkpoint {steps[-1]}"


def _outcome(workdir: str):
  from mtl_jax import checkpoint  # pylint: disable=g-import-not-at-top
  ckpt = checkpoint.Checkpointer(f"{workdir}/checkpoints")
  try:
    step, state = ckpt.latest_step(), ckpt.restore(None)[0]
  finally:
    ckpt.close()
  with open(f"{workdir}/metrics.jsonl") as f, open(f"{workdir}/final.json") as g:
    return f.read(), json.load(g), step, state


def _same(a, b) -> bool:
  import jax  # pylint: disable=g-import-not-at-top
  if a[:3] != b[:3]:
    return False
  leaves_a, leaves_b = jax.tree_util.tree_leaves(a[3]), jax.tree_util.tree_leaves(b[3])
  return len(leaves_a) == len(leaves_b) and all(
      np.array_equal(x, y) for x, y in zip(leaves_a, leaves_b))


def _workers_left(before: set[int]) -> list[int]:
  pids = []
  for entry in os.listdir("/proc"):
    if entry.isdigit() and int(entry) not in before:
      try:
        cmdline = open(f"/proc/{entry}/cmdline").read()
      except OSError:
        continue
      if "multiprocessing.spawn" in cmdline:
        pids.append(int(entry))
  return pids


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  rng = random.Random(_SEED.value)
  os.makedirs(_WORKDIR.value, exist_ok=True)
  reference_dir = f"{_WORKDIR.value}/reference"
  shutil.rmtree(reference_dir, ignore_errors=True)
  _run(reference_dir)  # Builds the dataset and warms the caches.
  shutil.rmtree(reference_dir)
  status, seconds, _ = _run(reference_dir)
  if status:
    raise RuntimeError(f"the uninterrupted run failed with status {status}")
  reference = _outcome(reference_dir)
  print(f"uninterrupted: {seconds:.1f} s, {_STEPS.value} steps; killing with {_SIGNAL.value}"
        f" at uniform moments in [{_EARLIEST.value * seconds:.1f}, {seconds:.1f}] s",
        flush=True)
  before = set(int(p) for p in os.listdir("/proc") if p.isdigit())
  identical = refused = damaged = 0
  for trial in range(_TRIALS.value):
    workdir = f"{_WORKDIR.value}/trial_{trial}"
    shutil.rmtree(workdir, ignore_errors=True)
    moments, runs = [], 0
    kill_after = rng.uniform(_EARLIEST.value * seconds, seconds)
    while True:
      runs += 1
      status, _, last = _run(workdir, kill_after)
      if kill_after is None or status == 0 or runs > 6:
        break
      moment = f"{kill_after:.1f} s (status {status})"
      if os.path.exists(f"{workdir}/checkpoints"):
        done = _damage(workdir, rng)
        damaged += bool(done)
        moment += done
      moments.append(moment)
      kill_after = rng.uniform(_EARLIEST.value * seconds, seconds) if rng.random() < _KILL_AGAIN.value else None
    if status:
      designed = "no checkpoint in" in last  # Every checkpoint damaged: refuses, moves nothing.
      refused += designed
      print(f"trial {trial}: killed at {', '.join(moments)}; the last rerun stopped with status"
            f" {status}{' as designed' if designed else ''}: {last}", flush=True)
      continue
    same = _same(_outcome(workdir), reference)
    identical += same
    aside = os.path.exists(f"{workdir}/checkpoints_damaged")
    print(f"trial {trial}: killed at {', '.join(moments) or 'no moment'}; {runs} runs;"
          f" {'identical' if same else 'DIFFERENT'}"
          + ("; a damaged checkpoint was set aside" if aside else ""), flush=True)
  left = _workers_left(before)
  print(f"{_TRIALS.value} trials, {identical} identical"
        + (f", {damaged} checkpoints damaged ({_DAMAGE.value})" if _DAMAGE.value != "none" else "")
        + (f", {refused} refused to resume from only damaged checkpoints" if refused else "")
        + (f"; worker processes left alive: {left}" if left else ""))


if __name__ == "__main__":
  app.run(main)
