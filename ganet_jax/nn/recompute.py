"""Ordering a backward pass's recomputation after the cotangent, so that XLA cannot hoist or merge it.

A custom VJP that keeps a layer's input and recomputes what it derives from it
(the shifted windows of a depthwise convolution, the centred input of a
BatchNorm) saves memory only if XLA computes those values in the backward pass.
On CPU it does not by itself: XLA drops optimization barriers (``jax.checkpoint``'s
guard) before common-subexpression elimination, which then merges the
recomputation with the forward pass's identical expression, computed once and
held from the forward pass to the backward pass (benchmarks/README.md, memory).
Making the recomputation's input data-dependent on the cotangent prevents both.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def depends_on(x: jax.Array, other: jax.Array) -> jax.Array:
  """``x``, exactly, as a value XLA must compute after ``other`` and cannot identify with ``x``.

  Adds ``-(0 * |other's first element|)``, a zero XLA does not fold for floats
  (the product would be NaN for a non-finite element, which is why that case adds
  a constant instead): ``x + -0.0`` is ``x`` bit for bit, signed zeros included,
  and the addition fuses into whatever reads the result.
  """
  first = other.reshape(-1)[0]
  zero = jnp.where(jnp.isfinite(first), -(jnp.abs(first) * 0), -0.0).astype(x.dtype)
  return x + zero
