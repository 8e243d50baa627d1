"""Set before JAX starts, for every test, doctest and notebook pytest collects.

Eight simulated CPU devices for the data-parallel tests, and XLA's CPU backend
at optimisation level 0: the tests' programs are tiny, so compilation is what
they wait for, and level 0 compiles them several times faster (a random normal
draw: 4.4 s -> 0.2 s with jax 0.10.2). This file sits at the repository root so
that pytest reads it before collecting anything (``pytest mtl_jax/`` alone
too); notebook kernels started by the tests inherit the environment.

One XLA compilation cache for the whole run (a fresh temporary directory,
removed at exit by the process that made it; pytest-xdist's workers and the
notebook kernels inherit it): many tests build the same tiny network, step or
evaluation, and a program compiled once is then loaded, not compiled again.
"""

import atexit
import os
import shutil
import tempfile

_FLAGS = ("--xla_force_host_platform_device_count=8", "--xla_backend_optimization_level=0")
for _flag in _FLAGS:
  if _flag.split("=")[0] not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _flag).strip()

if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="mtl_jax_tests_xla_")
  atexit.register(shutil.rmtree, os.environ["JAX_COMPILATION_CACHE_DIR"], True)
  os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
  os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "-1"

# colabs/quickstart.ipynb trains for 150 steps in Colab; its test run takes 20.
os.environ.setdefault("MTL_JAX_NOTEBOOK_STEPS", "20")
