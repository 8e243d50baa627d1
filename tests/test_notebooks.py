"""Every notebook in colabs/ runs from an empty directory with only the installed package.

As in Colab: the kernel starts in a fresh temporary directory holding the
notebook alone, so nothing of the repository (``configs/``, ``benchmarks/``)
can be imported; the notebook's first cell finds mtl_jax installed and skips
its install. A cell that raises fails the test, naming the notebook and cell.
"""

import glob
import os
import shutil

import nbclient
import nbformat
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = sorted(glob.glob(os.path.join(ROOT, "colabs", "*.ipynb")))


def execute(path: str, cwd: str, timeout: int = 600):
  """The notebook at ``path`` executed with ``cwd`` as its working directory."""
  notebook = nbformat.read(path, as_version=4)
  client = nbclient.NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                                   resources={"metadata": {"path": cwd}})
  client.execute()
  return notebook


def test_there_are_notebooks():
  assert {os.path.basename(p) for p in NOTEBOOKS} >= {"quickstart.ipynb",
                                                       "gradient_surgery.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_runs_from_an_empty_directory(path, tmp_path):
  copy = shutil.copy(path, tmp_path)
  assert sorted(os.listdir(tmp_path)) == [os.path.basename(path)]
  try:
    notebook = execute(copy, str(tmp_path))
  except nbclient.exceptions.CellExecutionError as e:
    pytest.fail(f"{os.path.basename(path)}: {str(e).splitlines()[-1]}")
  outputs = [o for cell in notebook.cells if cell.cell_type == "code"
             for o in cell.get("outputs", [])]
  assert outputs and not [o for o in outputs if o.get("output_type") == "error"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_is_saved_with_its_outputs(path):
  # So it reads on GitHub: every code cell that shows something was run, and the figures are in.
  notebook = nbformat.read(path, as_version=4)
  code = [cell for cell in notebook.cells if cell.cell_type == "code"]
  assert all(cell.get("execution_count") for cell in code), path
  images = [o for cell in code for o in cell.get("outputs", [])
            if "image/png" in o.get("data", {})]
  assert images, f"{path}: no figure saved"
