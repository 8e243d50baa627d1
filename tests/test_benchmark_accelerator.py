"""benchmarks/accelerator.py at a tiny size on the CPU: one row of real numbers, and its lookups."""

import os
import subprocess
import sys

import numpy as np

from benchmarks import accelerator
from benchmarks import fabricated

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_one_tiny_row_is_measured_and_tabled():
  env = dict(os.environ, XLA_FLAGS=os.environ.get("XLA_FLAGS", "").replace(
      "--xla_force_host_platform_device_count=8", "--xla_force_host_platform_device_count=2"))
  proc = subprocess.run(
      [sys.executable, "-m", "benchmarks.accelerator", "--tiny", "--configs=configs/synthetic.py",
       "--rows=imtl_g/features", "--dtypes=bfloat16", "--steps=2", "--repeats=1",
       "--warmup=1", "--peak_tflops=0.5"],
      capture_output=True, text=True, timeout=600, check=False, cwd=_ROOT, env=env)
  assert proc.returncode == 0, proc.stderr[-3000:]
  lines = proc.stdout.strip().splitlines()
  assert lines[0] == "cpu, 2 device(s)"
  cells = [c.strip() for c in lines[-1].strip("|").split("|")]
  assert cells[:5] == ["configs/synthetic.py", "imtl_g", "features", "bfloat16", "4"]
  ms, images, tflops = map(float, cells[5:8])
  assert ms > 0 and abs(images - 4 / (ms / 1e3)) < 0.01 * images
  mfu = float(cells[8].rstrip("%"))
  assert tflops > 0 and abs(mfu - 100 * tflops / 0.5) < 0.01 * mfu + 0.06
  assert cells[9] == "–"  # The CPU reports no peak memory.


def test_peaks_of_known_devices_and_valid_fabricated_batches():
  assert accelerator.peak_tflops("NVIDIA H200") == 989.0
  assert accelerator.peak_tflops("NVIDIA A100-SXM4-80GB") == 312.0
  assert accelerator.peak_tflops("TPU v5p") == 459.0 and accelerator.peak_tflops("cpu") is None
  batch = fabricated.batch(["image", "segmentation", "depth", "normals"], 2, 4, 6,
                                       num_classes=5)
  assert batch["image"].dtype == np.uint8 and batch["segmentation"].max() < 5
  assert batch["depth"].min() > 0
  np.testing.assert_allclose(np.linalg.norm(batch["normals"], axis=-1), 1.0, rtol=1e-5)
