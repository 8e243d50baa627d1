"""The update-only balancer benchmark: the gradients it builds and its report."""

import jax
import numpy as np

from benchmarks import balancer_updates as bench
from configs import tiny
from mtl_jax import build
from mtl_jax import train_state
from mtl_jax.models import partition


def test_gradient_shapes_are_the_networks():
  config = tiny.get_config()  # hps, widths (4, 8), 16x24 images, global batch 8.
  shapes = bench.gradient_shapes(config)
  # The global batch of 8 (what the feature-level balancer sees, gathered over
  # the 8 test devices) at full and half resolution.
  assert [s.shape for s in jax.tree_util.tree_leaves(shapes["features"])] == [
      (8, 16, 24, 4), (8, 8, 12, 8)]
  exp = build.experiment(config, with_data=False)
  tasks, model, balancer, tx = exp.tasks, exp.model, exp.balancer, exp.tx
  state = train_state.create(jax.random.PRNGKey(1), model, tasks, balancer, tx,
                                   (16, 24, 3))
  shared, _ = partition.split(state.params, [t.name for t in tasks])
  assert jax.tree_util.tree_map(lambda x: x.shape, shapes["params"]) == jax.tree_util.tree_map(
      lambda x: x.shape, shared)


def test_random_task_grads_have_a_task_axis():
  shapes = {"a": jax.ShapeDtypeStruct((2, 3), np.float32),
            "b": jax.ShapeDtypeStruct((4,), np.float32)}
  grads = bench.random_task_grads(shapes, 3, jax.random.PRNGKey(0))
  assert grads["a"].shape == (3, 2, 3) and grads["b"].shape == (3, 4)
  assert not np.allclose(grads["a"][0], grads["a"][1])


def test_report_ratios_to_ew():
  times = {"ew/params": 0.002, "pcgrad/params": 0.005, "ew/features": 0.004,
           "pcgrad/features": 0.006}
  report = bench.markdown_table(times, ["ew", "pcgrad"], ["params", "features"],
                                {"params": 1234, "features": 56789})
  lines = report.splitlines()
  assert lines[3] == "| pcgrad | 5.00 | 2.50 | 6.00 | 1.50 |"
  assert lines[-1] == "Floats per task: params 1,234, features 56,789."


def test_run_times_every_method_at_every_level(capsys):
  config = tiny.get_config()
  report = bench.run(config, ["mgda"], ["params", "features"], steps=1, repeats=1)
  rows = [line.split(" | ")[0][2:] for line in report.splitlines()[2:4]]
  assert rows == ["ew", "mgda"]
  ew_row = report.splitlines()[2].strip("| ").split(" | ")
  assert ew_row[2] == "1.00" and ew_row[4] == "1.00" and float(ew_row[1]) > 0
  assert "compiled mgda/features" in capsys.readouterr().out
