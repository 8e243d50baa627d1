"""One run per workdir: a second run stops in one line, a dead owner's lock is taken over."""

import json
import os
import socket
import subprocess
import sys

import pytest

from mtl_jax import train
from mtl_jax import workdir_lock

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _write_lock(workdir, host, pid):
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, workdir_lock.FILE), "w") as f:
    json.dump({"host": host, "pid": pid, "started": "2026-01-01T00:00:00"}, f)


def _dead_pid():
  proc = subprocess.Popen([sys.executable, "-c", "pass"])
  proc.wait()
  return proc.pid


def test_the_lock_is_exclusive_and_released(tmp_path):
  workdir = str(tmp_path)
  with workdir_lock.hold(workdir) as path:
    assert json.load(open(path))["pid"] == os.getpid()
    with pytest.raises(workdir_lock.WorkdirBusy, match=rf"pid {os.getpid()} on this host"):
      workdir_lock.acquire(workdir)
  assert not os.path.exists(path)
  with workdir_lock.hold(workdir):  # Free again.
    pass


def test_a_dead_owners_lock_is_taken_over(tmp_path):
  workdir = str(tmp_path)
  _write_lock(workdir, socket.gethostname(), _dead_pid())
  with workdir_lock.hold(workdir) as path:
    assert json.load(open(path))["pid"] == os.getpid()
  assert not os.path.exists(path)


def test_a_half_written_lock_is_taken_over(tmp_path):
  (tmp_path / workdir_lock.FILE).write_text('{"host": ')
  with workdir_lock.hold(str(tmp_path)) as path:
    assert json.load(open(path))["pid"] == os.getpid()


def test_another_hosts_lock_is_respected_and_named(tmp_path):
  workdir = str(tmp_path)
  _write_lock(workdir, "elsewhere-node-7", 12345)
  with pytest.raises(workdir_lock.WorkdirBusy,
                     match="pid 12345 on host elsewhere-node-7.*remove the lock once"):
    workdir_lock.acquire(workdir)
  assert json.load(open(tmp_path / workdir_lock.FILE))["host"] == "elsewhere-node-7"


def test_training_on_a_held_workdir_stops_before_touching_it(tiny_config, tmp_path):
  workdir = str(tmp_path)
  with workdir_lock.hold(workdir):
    with pytest.raises(workdir_lock.WorkdirBusy):
      train.train_and_evaluate(tiny_config, workdir)
  assert sorted(os.listdir(workdir)) == []  # No record, no metrics, no checkpoints.


def test_the_cli_names_the_run_holding_the_workdir_in_one_line(tmp_path):
  workdir = tmp_path / "work"
  _write_lock(str(workdir), socket.gethostname(), os.getpid())  # This test's process: alive.
  proc = subprocess.run(
      [sys.executable, "-m", "mtl_jax.main", "--config=configs/tiny.py", f"--workdir={workdir}"],
      capture_output=True, text=True, timeout=300, check=False, cwd=_ROOT)
  assert proc.returncode == 1, proc.stderr
  assert "Traceback" not in proc.stderr + proc.stdout
  last_line = proc.stderr.strip().splitlines()[-1]
  assert last_line.startswith(f"{workdir} is in use by the run of pid {os.getpid()} on this host"
                              ), proc.stderr
  assert sorted(os.listdir(workdir)) == [workdir_lock.FILE]
