"""The balancer benchmark's arithmetic and report (the timing itself is not a test)."""

from benchmarks import balancers as bench


def test_analytic_floor_is_t_shared_backward_passes():
  # F = 2, B_h = 1, B_s = 3, T = 4: (2 + 1 + 4 * 3) / (2 + 1 + 3) = 15 / 6.
  assert abs(bench.analytic_floor(2.0, 3.0, 6.0, num_tasks=4) - 2.5) < 1e-12
  # One task: the floor is one forward + backward.
  assert abs(bench.analytic_floor(2.0, 3.0, 6.0, num_tasks=1) - 1.0) < 1e-12


def test_report_rows_and_ratios():
  times = {"ew/loss": 0.02, "uw/loss": 0.021, "mgda/params": 0.05, "mgda/features": 0.022,
           "floor/params": 0.04, "floor/features": 0.025}
  kinds = {"ew": "loss", "uw": "loss", "mgda": "gradient"}
  report = bench.markdown_table(times, kinds, ["params", "features"],
                                {"params": 1.5, "features": 1.0})
  rows = {line.split(" | ")[0][2:]: [c.strip() for c in line.strip("| ").split("|")]
          for line in report.splitlines()[2:]}
  assert list(rows) == ["ew", "uw", "mgda", "floor: EW via per-task gradients", "floor: analytic"]
  # A loss-level method has one time, reported at both levels.
  assert rows["uw"][2:] == ["21.0", "1.05", "0.53", "21.0", "1.05", "0.84"]
  assert rows["mgda"][2:] == ["50.0", "2.50", "1.25", "22.0", "1.10", "0.88"]
  assert rows["floor: EW via per-task gradients"][2:] == ["40.0", "2.00", "1.00",
                                                          "25.0", "1.25", "1.00"]
  assert rows["floor: analytic"][2:] == ["30.0", "1.50", "0.75", "20.0", "1.00", "0.80"]
