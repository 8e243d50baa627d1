"""The CLI ends a run on bad data with one message naming the file, and no traceback."""

import os
import subprocess
import sys

import numpy as np

from tests.data import manual_files

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
H, W = 16, 24  # configs/tiny.py's image size.
SPEC = {"image": ("image", (H, W, 3), 0), "label": ("label", (H, W), 13),
        "depth": ("depth", (H, W, 1), 0), "normal": ("normal", (H, W, 3), 0)}


def test_cli_names_a_bad_data_file_without_a_traceback(tmp_path):
  # The builder raises while the dataset is prepared, before anything compiles.
  manual = tmp_path / "manual"
  manual_files.write_npy_layout(manual, SPEC, {"train": 2, "val": 1})  # The MTAN layout.
  bad = manual / "train" / "depth" / "1.npy"
  depth = np.load(bad)
  depth[3, 4] = np.nan
  np.save(bad, depth)
  proc = subprocess.run(
      [sys.executable, "-m", "mtl_jax.main", "--config=configs/tiny.py",
       f"--workdir={tmp_path / 'work'}", "--config.dataset.name=nyuv2",
       f"--config.dataset.data_dir={tmp_path / 'tfds'}",
       f"--config.dataset.manual_dir={manual}"],
      capture_output=True, text=True, timeout=300, check=False, cwd=_ROOT)
  assert proc.returncode == 1, proc.stderr
  assert "Traceback" not in proc.stderr + proc.stdout
  last_line = proc.stderr.strip().splitlines()[-1]
  assert last_line.endswith(
      f"Dataset 'nyuv2' of config configs/tiny.py: {bad}: 1 NaN value(s) (first at (3, 4, 0))"
  ), proc.stderr
  assert not os.path.exists(tmp_path / "work" / "metrics.jsonl")
