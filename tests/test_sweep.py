"""mtl_jax.sweep: the plan, the command line, resuming, and the report against NumPy.

The report is checked on run directories written here with known metrics
(mean, sample std and Δm computed independently with NumPy from the
definition); one real sweep of a tiny config runs the command end to end.
"""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from mtl_jax import sweep
from mtl_jax import sweep_report

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TASKS = ("segmentation", "depth")
KEYS = ("segmentation/miou", "segmentation/pixel_acc", "depth/abs_err", "depth/rel_err")
HIGHER = {"segmentation/miou": True, "segmentation/pixel_acc": True, "depth/abs_err": False,
          "depth/rel_err": False}


def _fabricate(root, metrics_by_run, num_steps=10):
  """A sweep directory whose runs hold ``{(label, seed): {key: value}}`` as their final mean."""
  runs = []
  for (label, seed), values in metrics_by_run.items():
    method = label.split("-")[0]
    level = label.split("-")[1] if "-" in label else None
    workdir = os.path.join(root, label, f"seed{seed}")
    os.makedirs(workdir)
    with open(os.path.join(workdir, "config.json"), "w") as f:
      json.dump({"schedule": {"num_steps": num_steps}, "tasks": {"names": list(TASKS)}}, f)
    with open(os.path.join(workdir, "final.json"), "w") as f:
      json.dump({"last": {"step": num_steps, **values}, "mean": {"steps": [num_steps], **values}},
                f)
    with open(os.path.join(workdir, "train.jsonl"), "w") as f:
      for step in (5, 10):
        f.write(json.dumps({"step": step, "weight/segmentation": 0.1 * step + seed,
                            "weight/depth": 1.0}) + "\n")
    runs.append(sweep.Run(label, method, level, seed, workdir, ()))
  sweep.write_plan(str(root), "configs/tiny.py", runs, "train", [])
  return runs


def _delta_m(values, base):
  terms = [(1 if HIGHER[k] else -1) * (values[k] - base[k]) / base[k] for k in base]
  return 100.0 * np.mean(terms)


def test_report_matches_numpy(tmp_path):
  rng = np.random.default_rng(0)
  by_run = {}
  for label in ("single_task", "ew", "pcgrad-params"):
    for seed in (0, 1, 2):
      by_run[label, seed] = {k: float(rng.uniform(0.5, 60.0)) for k in KEYS}
  _fabricate(tmp_path, by_run)
  paths = sweep_report.write(str(tmp_path))
  assert {os.path.basename(p) for p in paths} == {"summary.md", "summary.csv", *sweep_report.PLOTS}
  assert all(os.path.getsize(p) > 0 for p in paths)

  base = {k: np.mean([by_run["single_task", s][k] for s in range(3)]) for k in KEYS}
  with open(tmp_path / "summary.csv") as f:
    rows = {row["method"]: row for row in csv.DictReader(f)}
  assert set(rows) == {"single_task", "ew", "pcgrad-params"}
  for label in ("ew", "pcgrad-params"):
    for key in KEYS:
      values = [by_run[label, s][key] for s in range(3)]
      np.testing.assert_allclose(float(rows[label][key]), np.mean(values), rtol=1e-12)
      np.testing.assert_allclose(float(rows[label][key + "_std"]), np.std(values, ddof=1),
                                 rtol=1e-12)
    deltas = [_delta_m(by_run[label, s], base) for s in range(3)]
    np.testing.assert_allclose(float(rows[label]["delta_m"]), np.mean(deltas), rtol=1e-9)
    np.testing.assert_allclose(float(rows[label]["delta_m_std"]), np.std(deltas, ddof=1),
                               rtol=1e-9)
  for key in KEYS:
    np.testing.assert_allclose(float(rows["single_task"][key]), base[key], rtol=1e-12)

  # The best of each column is bold, by the metric's direction.
  md = (tmp_path / "summary.md").read_text()
  table = [line for line in md.splitlines() if line.startswith("| ew ") or
           line.startswith("| pcgrad-params ")]
  header = next(line for line in md.splitlines() if line.startswith("| method"))
  columns = [c.strip() for c in header.strip("|").split("|")]
  for key in KEYS:
    means = {label: np.mean([by_run[label, s][key] for s in range(3)])
             for label in ("ew", "pcgrad-params")}
    best = (max if HIGHER[key] else min)(means, key=means.get)
    col = next(i for i, c in enumerate(columns) if c.startswith(key + " "))
    for line in table:
      cell = [c.strip() for c in line.strip("|").split("|")][col]
      assert cell.startswith("**") == line.startswith(f"| {best} "), (key, line)


def test_report_per_task_delta_and_weights(tmp_path):
  by_run = {("single_task", 0): dict(zip(KEYS, (40.0, 80.0, 0.5, 0.2))),
            ("ew", 0): dict(zip(KEYS, (44.0, 80.0, 0.55, 0.2))),
            ("ew", 1): dict(zip(KEYS, (42.0, 84.0, 0.45, 0.2)))}
  _fabricate(tmp_path, by_run)
  s = sweep_report.Sweep(str(tmp_path))
  # Δ segmentation of seed 0: (+10% + 0%) / 2 = 5; of seed 1: (+5% + 5%) / 2 = 5.
  np.testing.assert_allclose(s.values("ew", "delta_m/segmentation"), [5.0, 5.0])
  # Δ depth: seed 0 -10% / 2 = -5, seed 1 +10% / 2 = 5.
  np.testing.assert_allclose(s.values("ew", "delta_m/depth"), [-5.0, 5.0])
  np.testing.assert_allclose(s.values("ew", "delta_m"), [0.0, 5.0], atol=1e-12)
  steps, curves = s.weights("ew")
  np.testing.assert_array_equal(steps, [5, 10])
  np.testing.assert_allclose(curves["segmentation"], [0.5 + 0.5, 1.0 + 0.5])  # Mean of seeds.


def test_unfinished_runs_are_left_out_and_named(tmp_path):
  runs = _fabricate(tmp_path, {("single_task", 0): dict(zip(KEYS, (40.0, 80.0, 0.5, 0.2))),
                               ("ew", 0): dict(zip(KEYS, (44.0, 80.0, 0.55, 0.2))),
                               ("ew", 1): dict(zip(KEYS, (1.0, 1.0, 9.0, 9.0)))},
                     num_steps=10)
  with open(os.path.join(runs[-1].workdir, "config.json"), "w") as f:
    json.dump({"schedule": {"num_steps": 20}, "tasks": {"names": list(TASKS)}}, f)
  assert not sweep.finished(runs[-1].workdir) and sweep.finished(runs[1].workdir)
  sweep_report.write(str(tmp_path))
  md = (tmp_path / "summary.md").read_text()
  assert "Not finished (left out): ew seed 1." in md
  assert "| ew | 1 | " in md


def test_plan_runs_loss_level_methods_once_and_names_options():
  runs = sweep.plan("w", ["ew", "uw", "mgda:normalization=loss+"], ["params", "features"],
                    [0, 1], ["schedule.num_steps=5"], train_baselines=True)
  labels = [(r.label, r.seed) for r in runs]
  assert labels[:2] == [("single_task", 0), ("single_task", 1)]
  assert {r.label for r in runs} == {"single_task", "ew", "uw", "mgda_normalization=loss+-params",
                                     "mgda_normalization=loss+-features"}
  mgda = next(r for r in runs if r.label.endswith("-features") and r.seed == 1)
  assert mgda.overrides == ("schedule.num_steps=5", "balancer.name=mgda",
                            "balancer.level=features", "seed=1",
                            "balancer.kwargs.normalization=loss+")
  assert "model.name=single_task" in runs[0].overrides


@pytest.mark.parametrize("argv, message", [
    (["--config=configs/tiny.py", "--workdir=w", "--balancers=ew,nope"], "unknown balancer 'nope'"),
    (["--config=configs/tiny.py", "--workdir=w", "--balancers=ew", "--levels=loss"],
     "--levels: unknown level 'loss'"),
    (["--config=configs/tiny.py", "--workdir=w", "--balancers=ew", "--seeds=a"], "integers"),
    (["--config=configs/tiny.py", "--balancers=ew"], "--workdir is needed"),
    (["--config=configs/tiny.py", "--workdir=w", "--balancers=ew", "--bogus=1"],
     "unexpected argument '--bogus=1'"),
    (["--config=configs/tiny.py", "--workdir=w", "--balancers=ew", "--baselines=x"],
     "--baselines: unknown value 'x'"),
])
def test_bad_command_lines_are_one_line(argv, message):
  with pytest.raises(sweep.SweepError, match=message.replace("(", r"\(").replace("+", r"\+")):
    sweep.parse(argv)


def test_bad_option_is_named_before_any_run(tmp_path):
  _, _, runs = sweep.parse(["--config=configs/tiny.py", f"--workdir={tmp_path}",
                            "--balancers=cagrad:cc=1", "--baselines=none"])
  with pytest.raises(sweep.SweepError, match=r"run cagrad_cc=1-params seed 0: "
                     r"config.balancer.kwargs.cc: not an option of balancer 'cagrad'"):
    sweep.check("configs/tiny.py", runs)
  assert not os.listdir(tmp_path)


def test_sweep_command_runs_resumes_and_reports(tmp_path, data_dir, monkeypatch, capsys):
  # The sweep in this process (as `python -m mtl_jax.sweep` runs it); its run in a subprocess.
  monkeypatch.chdir(ROOT)
  workdir = tmp_path / "sweep"
  argv = ["--config=configs/tiny.py", f"--workdir={workdir}", "--balancers=ew", "--seeds=0",
          "--baselines=none", f"--config.dataset.data_dir={data_dir}",
          "--config.parallel.num_devices=1", "--config.schedule.num_steps=2",
          "--config.eval.every_steps=2"]
  assert sweep.run_command(argv) == 0
  out = capsys.readouterr().out
  assert "[1/1] ew seed 0" in out and "[finished] ew seed 0" in out
  assert sweep.finished(str(workdir / "ew" / "seed0"))
  assert (workdir / "summary.md").exists() and (workdir / "weights.png").exists()
  assert sweep.run_command(argv) == 0
  assert "[done] ew seed 0" in capsys.readouterr().out  # Not run again.
  assert sweep.run_command(["--report", str(workdir)]) == 0
  assert str(workdir / "summary.csv") in capsys.readouterr().out
  assert sweep.run_command(["--report", str(tmp_path)]) == 2
  err = capsys.readouterr().err
  assert err.count("\n") == 1 and "sweep.json" in err


def test_a_failed_run_is_reported_and_the_sweep_exits_1(tmp_path, monkeypatch, capsys):
  runs = sweep.plan(str(tmp_path), ["ew"], ["params"], [0], [], train_baselines=False)
  monkeypatch.setattr(sweep, "_start", lambda run, config_file: subprocess.Popen(
      [sys.executable, "-c", "import sys; sys.exit(3)"]))
  failed = sweep.execute(runs, "configs/tiny.py", jobs=1)
  assert failed == runs
  assert "[failed] ew seed 0 (exit status 3)" in capsys.readouterr().out
