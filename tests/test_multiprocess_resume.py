"""Two processes x 2 CPU devices on localhost: a run killed with -9 after its first
checkpoint resumes on both processes and ends bit-identical to an uninterrupted two-process
run, with one writer of the workdir's files; and the two-process run is the one-process
run of 4 devices on the same global batches.

The uninterrupted run is started as on any machine (``config.parallel.coordinator_address``,
``num_processes``, ``process_id``), the interrupted one as a Slurm job (emulated), so the
two ways of starting meet in one result."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np

from mtl_jax import checkpoint

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _start(workdir, data_dir, job_id=None):
  """Two processes of 2 devices: a Slurm job (``job_id``) or, without one, given the keys."""
  procs, port = [], _free_port()
  for rank in range(2):
    env = dict(os.environ, JAX_PLATFORMS="cpu",
               XLA_FLAGS=os.environ.get("XLA_FLAGS", "").replace(
                   "--xla_force_host_platform_device_count=8", "")
               + " --xla_force_host_platform_device_count=2")
    keys = [f"--config.parallel.coordinator_address=127.0.0.1:{port}",
            "--config.parallel.num_processes=2", f"--config.parallel.process_id={rank}"]
    if job_id is not None:
      env.update(SLURM_JOB_ID=str(job_id), SLURM_STEP_NODELIST="localhost", SLURM_NTASKS="2",
                 SLURM_PROCID=str(rank), SLURM_LOCALID=str(rank), SLURM_STEP_NUM_NODES="1")
      keys = []
    procs.append(subprocess.Popen(
        [sys.executable, "-m", "mtl_jax.main", "--config=configs/tiny.py",
         f"--workdir={workdir}", f"--config.dataset.data_dir={data_dir}",
         "--config.parallel.distributed=True", *keys],
        cwd=_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
  return procs


def _finish(procs):
  errors = [p.communicate(timeout=400)[1] for p in procs]
  for p, err in zip(procs, errors):
    assert p.returncode == 0, err[-3000:]
  return errors


def _state(workdir):
  ckpt = checkpoint.Checkpointer(os.path.join(workdir, "checkpoints"))
  try:
    return ckpt.latest_step(), ckpt.restore(None)[0]
  finally:
    ckpt.close()


def test_a_two_process_run_killed_after_a_checkpoint_resumes_bit_identical(tmp_path):
  # A data directory of its own: the first two-process run builds the dataset (process 0
  # builds it while process 1 waits).
  from configs import tiny  # pylint: disable=g-import-not-at-top
  data_dir = str(tmp_path / "tfds")
  config = tiny.get_config()
  config.dataset.data_dir = data_dir
  job = 1000 + os.getpid() % 3000  # The coordinator's port derives from the job id.
  full, resumed = str(tmp_path / "full"), str(tmp_path / "resumed")
  _finish(_start(full, data_dir))

  procs = _start(resumed, data_dir, job + 1)
  sealed = os.path.join(resumed, "checkpoints", "2", checkpoint.SEAL)
  deadline = time.time() + 300
  while not os.path.exists(sealed) and time.time() < deadline and all(
      p.poll() is None for p in procs):
    time.sleep(0.1)
  for p in procs:
    if p.poll() is None:
      p.send_signal(signal.SIGKILL)
    p.communicate()
  assert os.path.exists(sealed)
  errors = _finish(_start(resumed, data_dir, job + 2))
  for err in errors:
    assert "Resuming from step" in err, err[-3000:]

  for name in ("metrics.jsonl", "final.json"):
    with open(os.path.join(full, name)) as f, open(os.path.join(resumed, name)) as g:
      assert f.read() == g.read(), name
  with open(os.path.join(full, "metrics.jsonl")) as f:
    steps = [json.loads(line)["step"] for line in f]
  assert steps == [3, 6]  # One writer: each evaluation once.
  (step, tree), (full_step, full_tree) = _state(resumed), _state(full)
  assert step == full_step == 6
  import jax  # pylint: disable=g-import-not-at-top
  jax.tree_util.tree_map(np.testing.assert_array_equal, tree, full_tree)

  # One process of 4 devices, the same global batches: the same run up to the order of
  # the cross-process sums.
  from mtl_jax import train  # pylint: disable=g-import-not-at-top
  single = str(tmp_path / "single")
  config.parallel.num_devices = 4
  train.train_and_evaluate(config, single)
  _, single_tree = _state(single)
  params, single_params = tree["params"], single_tree["params"]
  jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-3, atol=5e-4),
                         params, single_params)
  with open(os.path.join(full, "metrics.jsonl")) as f, open(
      os.path.join(single, "metrics.jsonl")) as g:
    for a, b in zip(map(json.loads, f), map(json.loads, g)):
      assert a.keys() == b.keys()
      np.testing.assert_allclose([a[k] for k in a], [b[k] for k in a], rtol=1e-3, atol=1e-3)
