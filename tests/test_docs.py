"""Every command and code block the docs show runs, so the docs cannot drift from the code.

Commands come from the fenced ``bash`` blocks of README.md and docs/*.md and
from the docstrings of configs/*.py and mtl_jax/main.py (backslash
continuations joined, ``&&`` split, one-variable ``for`` loops expanded):

* ``python -m mtl_jax.main ...``: parsed by the real command line
  (``mtl_jax.cli``) and built up to the data (``build.experiment`` without
  data: the config checks, the tasks, the network traced at its image size,
  the balancer), as on a one-device machine; the README's commands also train
  one step on a tiny synthetic set;
* ``python -m mtl_jax.sweep ...``: parsed by the sweep's command line into
  its runs, every run's config loaded with its overrides, the first and the
  last built up to the data;
* ``python -m benchmarks.<name> ...``: the module exists, defines every flag
  given, and its ``--config`` and overrides load;
* ``pip install ...`` and ``pytest``: the README's test command is CI's.

Fenced ``python`` blocks run as they are, but those that start with a
``# mtl_jax/...`` comment, which are excerpts of files.
"""

import glob
import os
import re
import shlex

import numpy as np
import pytest

from mtl_jax import build
from mtl_jax import cli
from mtl_jax import sweep
from mtl_jax import train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = ["README.md"] + sorted(os.path.relpath(p, ROOT)
                              for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))
DOCSTRINGS = sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "configs", "*.py"))
                    ) + ["mtl_jax/main.py", "mtl_jax/predict.py"]
# One device, as the docs' single-machine commands assume; tiny data for the training runs.
ONE_DEVICE = ["--config.parallel.num_devices=1"]


def _read(path):
  with open(os.path.join(ROOT, path), encoding="utf-8") as f:
    return f.read()


def fenced_blocks(text: str) -> list[tuple[str, str]]:
  """``(language, code)`` of every fenced block, indented ones (in lists) included."""
  blocks = []
  for match in re.finditer(r"^( *)```(\w*)\n(.*?)^\1```", text, re.M | re.S):
    indent = len(match.group(1))
    code = "\n".join(line[indent:] for line in match.group(3).splitlines())
    blocks.append((match.group(2), code))
  return blocks


def _docstring_shell(source: str) -> str:
  """The indented shell lines of a module docstring (commands and their continuations)."""
  doc = re.match(r'\s*"""(.*?)"""', source, re.S).group(1).replace("\\\\", "\\")
  lines, keep = [], False
  for line in doc.splitlines():
    stripped = line.strip()
    if line.startswith("    ") and (stripped.startswith(("python -m", "for ")) or keep):
      lines.append(stripped)
      keep = stripped.endswith("\\") or stripped.startswith("for ") or (
          keep and not stripped.startswith("done") and stripped != "")
    else:
      keep = False
  return "\n".join(lines)


def shell_commands(code: str) -> list[list[str]]:
  """Argument lists of a shell snippet: continuations joined, loops expanded, ``&&`` split."""
  code = re.sub(r"\\\n\s*", " ", code)
  loops = re.compile(r"for (\w+) in ([^;]*); do\n(.*?)\ndone", re.S)
  expanded = []
  for match in loops.finditer(code):
    var, items, body = match.groups()
    expanded += [body.replace(f"${var}", item) for item in items.split()]
  code = loops.sub("", code)
  commands = []
  for line in code.splitlines() + "\n".join(expanded).splitlines():
    for part in line.split("&&"):
      if part.strip() and not part.strip().startswith("#"):
        commands.append(shlex.split(part))
  return commands


def inline_commands(text: str) -> list[list[str]]:
  """Commands quoted inline (```python -m ...```), possibly wrapped over lines."""
  return [shlex.split(" ".join(m.split())) for m in re.findall(r"`(python -m [^`]+)`", text)]


def documented_commands() -> list[tuple[str, list[str]]]:
  found = []
  for path in DOCS:
    for lang, code in fenced_blocks(_read(path)):
      if lang == "bash":
        found += [(path, argv) for argv in shell_commands(code)]
    found += [(path, argv) for argv in inline_commands(_read(path))]
  for path in DOCSTRINGS:
    found += [(path, argv) for argv in shell_commands(_docstring_shell(_read(path)))]
  return found


COMMANDS = documented_commands()
MAIN = [(p, a[3:]) for p, a in COMMANDS if a[:3] == ["python", "-m", "mtl_jax.main"]]
SWEEPS = [(p, a[3:]) for p, a in COMMANDS if a[:3] == ["python", "-m", "mtl_jax.sweep"]]
# Commands of modules whose flags are checked (the benchmarks and mtl_jax.predict).
BENCHMARKS = [(p, a[2], a[3:]) for p, a in COMMANDS
              if a[:2] == ["python", "-m"] and (a[2].startswith("benchmarks.")
                                               or a[2] == "mtl_jax.predict")]


def overrides(text: str) -> list[str]:
  """Every ``--config.<key>=<value>`` quoted inline (the value as the docs quote it)."""
  found = re.findall(r"``?(--config\.[\w.]+=[^`]+)``?", text)
  return sorted(set(shlex.split(" ".join(f.split()))[0] for f in found))


SHIPPED = sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "configs", "*.py"))
                 if not p.endswith(("__init__.py", "default.py", "paper_setting.py")))
OVERRIDES = sorted({(w, o) for w in DOCS + DOCSTRINGS for o in overrides(_read(w))})


def _id(where, args):
  return f"{where}:{' '.join(args)[:90]}"


def test_every_documented_command_is_checked():
  assert len(MAIN) >= 20 and len(BENCHMARKS) >= 5  # The docs show what they should.
  assert len(SWEEPS) >= 3
  kinds = {"mtl_jax.main", "mtl_jax.sweep", "benchmarks", "pip", "pytest"}
  for where, argv in COMMANDS:
    kind = ("mtl_jax.main" if argv[:3] == ["python", "-m", "mtl_jax.main"] else
            "mtl_jax.sweep" if argv[:3] == ["python", "-m", "mtl_jax.sweep"] else
            "benchmarks" if argv[:2] == ["python", "-m"] and (
                argv[2].startswith("benchmarks.") or argv[2] == "mtl_jax.predict")
            else argv[0])
    assert kind in kinds, f"{where} shows a command no test runs: {' '.join(argv)}"


def test_readme_test_command_is_what_ci_runs():
  readme = [argv for where, argv in COMMANDS if where == "README.md" and argv[0] in ("pip", "pytest")]
  assert ["pip", "install", "-e", "."] in readme
  assert ["pip", "install", "-e", ".[test]"] in readme and ["pytest"] in readme
  assert 'pip install -e ".[test]" && pytest' in _read(".ci/run")


@pytest.mark.parametrize("where, args", MAIN, ids=[_id(w, a) for w, a in MAIN])
def test_main_command_reaches_the_data(where, args):
  config, workdir = cli.load(args + ONE_DEVICE)
  assert workdir
  build.experiment(config, with_data=False)


@pytest.mark.parametrize("where, args", SWEEPS, ids=[_id(w, a) for w, a in SWEEPS])
def test_sweep_command_parses_into_runs_that_build(where, args):
  values, _, runs = sweep.parse(args + ([] if "--report" in " ".join(args) else ONE_DEVICE))
  if "report" in values:
    assert not runs and values["report"]
    return
  assert runs, f"{where}: no runs"
  config_file = values["config"]
  sweep.check(config_file, runs, build=False)
  sweep.check(config_file, [runs[0], runs[-1]])


README_RUNS = [(w, a) for w, a in MAIN if w == "README.md"]


@pytest.mark.parametrize("where, args", README_RUNS, ids=[_id(w, a) for w, a in README_RUNS])
def test_readme_commands_train(where, args, tmp_path, data_dir):
  tiny = ONE_DEVICE + [
      f"--workdir={tmp_path}", f"--config.dataset.data_dir={data_dir}",
      "--config.dataset.num_train=8", "--config.dataset.num_test=4",
      "--config.input.batch_size=4", "--config.input.eval_batch_size=4",
      "--config.input.worker_count=0", "--config.schedule.num_steps=1",
      "--config.eval.max_batches=1", "--config.eval.at_start=False"]
  config, workdir = cli.load(args + tiny)
  results = train.train_and_evaluate(config, workdir)
  assert np.isfinite(results["segmentation/miou"])
  assert os.path.exists(os.path.join(workdir, "config.json"))


@pytest.mark.parametrize("where, module, args", BENCHMARKS,
                         ids=[_id(w, [m, *a]) for w, m, a in BENCHMARKS])
def test_benchmark_command_is_one_the_benchmark_takes(where, module, args):
  path = os.path.join(ROOT, *module.split(".")) + ".py"
  assert os.path.exists(path), f"{where}: no {module}"
  source = _read(os.path.relpath(path, ROOT))
  for other in re.findall(r"^from benchmarks import (\w+)", source, re.M):  # Shared flags.
    source += _read(os.path.join("benchmarks", f"{other}.py"))
  defined = set(re.findall(r"DEFINE_\w+\(\s*\"(\w+)\"", source))
  config_file = None
  for arg in args:
    name = re.match(r"--(?:no)?([\w.]+)", arg).group(1)
    if name == "config":
      config_file = arg.split("=", 1)[1]
    elif not name.startswith("config."):
      assert name in defined, f"{where}: {module} has no flag --{name}"
  if config_file or any(a.startswith("--config.") for a in args):
    assert "config" in defined
    base = cli.load_file(config_file or "configs/synthetic.py")
    cli.check_keys(base, [re.match(r"--config\.([^=]+)", a).group(1) for a in args
                          if a.startswith("--config.")])


@pytest.mark.parametrize("where, override", OVERRIDES, ids=[f"{w}:{o}" for w, o in OVERRIDES])
def test_documented_override_parses_on_every_shipped_config(where, override):
  for config_file in SHIPPED:
    config, _ = cli.load([f"--config={config_file}", "--workdir=/tmp/w", override])
    key, _, _ = override[len("--config."):].partition("=")
    node = config
    for part in key.split("."):
      node = node[part]
  if where.startswith("configs/"):  # A config's own docstring: it applies to that config.
    config, _ = cli.load([f"--config={where}", "--workdir=/tmp/w", override, *ONE_DEVICE])
    build.experiment(config, with_data=False)


PYTHON = [(w, code) for w in DOCS for lang, code in fenced_blocks(_read(w))
          if lang == "python" and not code.startswith("# mtl_jax/")]


@pytest.mark.parametrize("where, code", PYTHON, ids=[f"{w}:{i}" for i, (w, _) in enumerate(PYTHON)])
def test_python_block_runs(where, code, tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  exec(compile(code, where, "exec"), {"__name__": "docs_block"})  # pylint: disable=exec-used
