"""The parameter table printed when a run starts: each top-level module's parameter count."""

from typing import Any

import jax
import numpy as np


def counts(params: Any) -> dict[str, int]:
  """``{module: number of parameters}`` of the top level of a Flax parameter tree.

  >>> counts({"encoder": {"w": np.zeros((3, 4))}, "head": {"b": np.zeros(5)}})
  {'encoder': 12, 'head': 5}
  """
  if not isinstance(params, dict) and not hasattr(params, "items"):
    return {"params": int(sum(np.size(x) for x in jax.tree_util.tree_leaves(params)))}
  return {str(name): int(sum(np.size(x) for x in jax.tree_util.tree_leaves(sub)))
          for name, sub in params.items()}


def table(params: Any) -> str:
  """A text table of ``counts`` with shares and the total.

  >>> print(table({"encoder": {"w": np.zeros((3, 4))}, "head": {"b": np.zeros(4)}}))
  module    parameters  share
  encoder           12  75.0%
  head               4  25.0%
  total             16
  """
  rows = counts(params)
  total = sum(rows.values())
  width = max([len("module"), len("total")] + [len(n) for n in rows])
  lines = [f"{'module':<{width}}  parameters  share"]
  for name, count in rows.items():
    share = 100.0 * count / total if total else 0.0
    lines.append(f"{name:<{width}}  {count:>10,}  {share:4.1f}%")
  lines.append(f"{'total':<{width}}  {total:>10,}")
  return "\n".join(lines)
