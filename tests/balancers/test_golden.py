"""Golden values on torchjd's Jacobian J = [[-4, 1, 1], [6, 1, 1]].

Expected values are torchjd's published outputs for its aggregators with
their default settings, from TorchJD/torchjd ``tests/unit/aggregation/test_values.py``
(the ``AGGREGATOR_PARAMETRIZATIONS`` table) and the same numbers in the
docstring examples checked by ``tests/doc/test_aggregation.py``; UPGrad's weights
[1.1109, 0.7894] from the ``UPGradWeighting`` example of
``src/torchjd/aggregation/__init__.py`` (``tests/doc/test_index.py`` upstream).
torchjd compares them with ``atol=1e-4``; so do we.
"""

import numpy as np
import pytest

import balancer_inputs as inputs

GOLDEN = [
    # (registry name, kwargs, expected aggregation, torchjd aggregator)
    ("upgrad", {}, [0.2929, 1.9004, 1.9004], "UPGrad()"),
    ("mgda", {}, [1.1921e-07, 1.0, 1.0], "MGDA()"),
    ("imtl_g", {}, [0.0767, 1.0, 1.0], "IMTLG()"),
    ("pcgrad", {}, [0.5848, 3.8012, 3.8012], "PCGrad()"),
    ("aligned_mtl", {}, [0.2133, 0.9673, 0.9673], "AlignedMTL()"),
    ("cagrad", {}, [0.1835, 1.2041, 1.2041], "CAGrad(c=0.5)"),
    ("nash_mtl", {}, [0.0542, 0.7061, 0.7061], "NashMTL(n_tasks=2)"),
    ("ew", {}, [2.0, 2.0, 2.0], "Sum()"),
]


@pytest.mark.parametrize("name,kwargs,expected,torchjd_name", GOLDEN,
                         ids=[g[0] for g in GOLDEN])
def test_torchjd_golden_value(name, kwargs, expected, torchjd_name):
  updates, _, _ = inputs.t2(name, **kwargs)
  np.testing.assert_allclose(updates[0], expected, rtol=0, atol=1e-4, err_msg=torchjd_name)


def test_upgrad_golden_weights():
  _, weights, _ = inputs.t2("upgrad")
  np.testing.assert_allclose(weights[0], [1.1109, 0.7894], rtol=0, atol=1e-4)


def test_ew_mean_golden_value():
  """torchjd's Mean() gives [1, 1, 1]: our ew with weight 1/T."""
  updates, _, _ = inputs.t2("ew", weight=0.5)
  np.testing.assert_allclose(updates[0], [1.0, 1.0, 1.0], rtol=0, atol=1e-4)


@pytest.mark.parametrize("name", ["upgrad", "mgda", "imtl_g", "pcgrad", "aligned_mtl", "cagrad",
                                  "nash_mtl", "graddrop"])
def test_two_task_permutation(name):
  """T = 2 is deterministic for every method here (PCGrad included)."""
  updates, _, _ = inputs.t2(name)
  n = inputs.T2_PAIRS
  for i in range(n):
    np.testing.assert_allclose(updates[n + i], updates[i], rtol=0,
                               atol=2e-5 * np.abs(updates[i]).max(), err_msg=f"pair {i}")
