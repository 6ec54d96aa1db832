"""Mixed precision: running a network's float32 variables in a lower compute dtype."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp


def cast_floating(tree: Any, dtype: Any) -> Any:
  """``tree`` with its floating-point leaves cast to ``dtype`` (others untouched)."""
  return jax.tree.map(lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x, tree)
