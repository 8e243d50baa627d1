"""The command line's config: ``--config=FILE`` and its ``--config.<key>=<value>`` overrides.

Overrides are ml_collections' (``config_flags``), with two additions:

* a component's options can be set whether or not the config file sets them:
  keys under ``OPEN_SECTIONS`` (``config.model.kwargs``,
  ``config.model.wrapper_kwargs``, ``config.balancer.kwargs`` and each
  ``config.tasks.<task>``) are created by their override
  (``--config.balancer.kwargs.c=0.4``; the value is read as a Python literal,
  else as a string), and ``mtl_jax.schema`` then checks them against the
  chosen component;
* every other key must exist in the config file: a misspelled one is one line,
  ``config.balancer.nmae: unknown key; did you mean 'name'?``, like a value
  that does not parse, an unknown flag or a config file that does not load.

``flags_parser`` is what ``python -m mtl_jax.main`` parses its command line
with (such errors: one line on stderr, exit status 2); ``load(argv)`` parses an
argument list into ``(config, workdir)`` in a fresh flag namespace, as the
tests and sweeps do.
"""

import difflib
import re
import sys
from typing import Optional, Sequence

from absl import flags
import ml_collections
from ml_collections import config_flags

# Sections whose keys an override may create (the chosen component checks them).
OPEN_SECTIONS = ("model.kwargs", "model.wrapper_kwargs", "balancer.kwargs", "tasks.*")
USAGE_ERROR = 2  # The exit status of a command-line error.

_OVERRIDE = re.compile(r"^--?(?:no)?config\.([^=\s]+)")
_CONFIG_ARG = re.compile(r"^--?config(?:=(.*))?$")


class CommandLineError(ValueError):
  """A command-line error; its message is the one line to show."""


def define(flag_values: flags.FlagValues = flags.FLAGS, sys_argv: Optional[list[str]] = None):
  """Defines ``--config`` (with its overrides) and ``--workdir``; returns their holders.

  ``sys_argv``: the arguments the overrides are read from (None: ``sys.argv``
  when parsed).
  """
  config = config_flags.DEFINE_config_file(
      "config", None, "Path to a get_config() file (configs/*.py).", flag_values=flag_values,
      lock_config=False, accept_new_attributes=True, sys_argv=sys_argv)
  workdir = flags.DEFINE_string("workdir", None, "Directory for checkpoints and metrics.",
                                flag_values=flag_values)
  flags.mark_flags_as_required(["config", "workdir"], flag_values=flag_values)
  return config, workdir


def _config_file(argv: Sequence[str]) -> Optional[str]:
  """The value of ``--config`` in ``argv`` (``--config=F`` or ``--config F``)."""
  for i, arg in enumerate(argv):
    match = _CONFIG_ARG.match(arg)
    if match:
      if match.group(1) is not None:
        return match.group(1)
      return argv[i + 1] if i + 1 < len(argv) else None
  return None


def load_file(path: str) -> ml_collections.ConfigDict:
  """The config file's ``get_config()``, without overrides."""
  scratch = flags.FlagValues()
  holder = config_flags.DEFINE_config_file("config", None, "", flag_values=scratch,
                                           lock_config=False, sys_argv=["", f"--config={path}"])
  try:
    scratch(["", f"--config={path}"])
    config = holder.value
    if not isinstance(config, ml_collections.ConfigDict):
      config.keys()  # A file that failed to load: raises its error.
      raise TypeError(f"get_config() returned {type(config).__name__}, not a ConfigDict")
    return config
  except Exception as e:  # pylint: disable=broad-except
    cause = e.__cause__ or e
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    raise CommandLineError(f"--config: cannot load {path!r} ({type(cause).__name__}:"
                           f" {lines[-1] if lines else ''})") from e


def _is_open(section: str) -> bool:
  return any(section == s or (s.endswith(".*") and section.startswith(s[:-1])
                              and section.count(".") == s.count("."))
             for s in OPEN_SECTIONS)


def check_keys(config: ml_collections.ConfigDict, paths: Sequence[str]) -> None:
  """Raises ``CommandLineError`` for the first override path the config lacks.

  >>> cfg = ml_collections.ConfigDict({"balancer": {"name": "ew", "kwargs": {}}})
  >>> check_keys(cfg, ["balancer.kwargs.c"])  # An open section: any key.
  >>> check_keys(cfg, ["balancer.nmae"])
  Traceback (most recent call last):
  ...
  mtl_jax.cli.CommandLineError: config.balancer.nmae: unknown key; did you mean 'name'?
  """
  for path in paths:
    node, done = config, []
    for part in path.split("."):
      section = ".".join(done)
      is_dict = isinstance(node, ml_collections.ConfigDict)
      if is_dict and part in node:
        node, done = node[part], done + [part]
        continue
      if is_dict and _is_open(section) and len(done) == len(path.split(".")) - 1:
        break
      key = ".".join(["config"] + done + [part])
      if not is_dict:
        raise CommandLineError(f"{key}: unknown key; config.{section} is a value, not a section")
      close = difflib.get_close_matches(part, list(node.keys()), n=1)
      hint = f"; did you mean {close[0]!r}?" if close else (
          f"; config.{section or 'config'} has: {', '.join(sorted(node.keys()))}"
          if section else "")
      raise CommandLineError(f"{key}: unknown key{hint}")


def _override_paths(argv: Sequence[str]) -> list[str]:
  return [m.group(1) for m in map(_OVERRIDE.match, argv) if m]


def _one_line(error: Exception) -> str:
  """absl's and ml_collections' parse errors, as one line naming the flag."""
  message = str(error).strip()
  match = re.match(r"flag --(\S+?)=(.*?): (.*)", message, re.S)
  if match:
    name, value, why = match.groups()
    return f"{name}: invalid value {value!r} ({why.splitlines()[0]})"
  return message.splitlines()[0] if message else type(error).__name__


def parse(argv: Sequence[str], flag_values: flags.FlagValues = flags.FLAGS) -> list[str]:
  """Parses ``argv`` into ``flag_values`` (``define``'s flags); returns what remains.

  Raises:
    CommandLineError: an unknown key or flag, a value that does not parse, a
      config file that does not load, or a missing required flag.
  """
  path = _config_file(argv[1:])
  if path:
    check_keys(load_file(path), _override_paths(argv[1:]))
  try:
    return flag_values(list(argv))
  except (flags.Error, KeyError, AttributeError, ValueError, TypeError) as e:
    raise CommandLineError(_one_line(e)) from e


def flags_parser(argv: Sequence[str]) -> list[str]:
  """``absl.app.run``'s ``flags_parser``: a command-line error is one line and exit status 2."""
  try:
    return parse(argv)
  except CommandLineError as e:
    sys.stderr.write(f"{e}\n")
    sys.exit(USAGE_ERROR)


def load(args: Sequence[str]) -> tuple[ml_collections.ConfigDict, str]:
  """``(config, workdir)`` from command-line arguments (without the program name).

  >>> config, workdir = load(["--config=configs/tiny.py", "--workdir=/tmp/w",
  ...                         "--config.balancer.name=cagrad", "--config.balancer.kwargs.c=0.4"])
  >>> config.balancer.name, config.balancer.kwargs.c, workdir
  ('cagrad', 0.4, '/tmp/w')
  """
  argv = ["mtl_jax", *args]
  flag_values = flags.FlagValues()
  config, workdir = define(flag_values, sys_argv=argv)
  parse(argv, flag_values)
  return config.value, workdir.value
