"""Per-record probabilities of tectonic over a RecordSet, in fixed-size batches.

The last batch is padded to the batch size and its padding dropped on the host,
so one compiled function serves every batch. BatchNorm uses its running
statistics and dropout is off (``train=False``).
"""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from ganet_jax.conventions import TECTONIC
from ganet_jax.data.loader import batches, prefetch
from ganet_jax.data.records import RecordSet
from ganet_jax.nn.precision import cast_floating
from ganet_jax.sharding import replicate, shard_batch


@functools.partial(jax.jit, static_argnums=(0, 3))
def _p_tectonic(model: nn.Module, variables: Any, waveforms: jax.Array, compute_dtype: str | None) -> jax.Array:
  if compute_dtype is not None:
    variables, waveforms = cast_floating((variables, waveforms), compute_dtype)
  logits = model.apply(variables, waveforms, train=False).astype(jnp.float32)
  return jax.nn.softmax(logits)[:, TECTONIC]


def predict_probabilities(model: nn.Module, variables: Any, records: RecordSet | np.ndarray, *,
                          batch_size: int = 32, mesh: Mesh | None = None,
                          compute_dtype: str | None = None) -> np.ndarray:
  """Probability of tectonic for every record.

  Args:
    model: the Linen module.
    variables: {'params': ..., 'batch_stats': ...}.
    records: the records (a memory-mapped set is read one batch at a time), or
      their bare (n, samples, channels) windows.
    batch_size: records per call; the last batch is zero-padded to it.
    mesh: spread each batch over this mesh's devices (``ganet_jax.sharding``);
      ``batch_size`` must divide by its size. None: the default device.
    compute_dtype: e.g. 'bfloat16' to run the network in that precision.

  Returns:
    (len(records),) float32 probabilities of class 0 (tectonic).
  """
  if not isinstance(records, RecordSet):
    records = RecordSet.unlabelled(np.asarray(records, np.float32))
  if mesh is not None:
    variables = replicate(variables, mesh)
  probabilities = []
  for batch in prefetch(batches(records, np.arange(len(records)), batch_size)):
    waveforms = jnp.asarray(batch.waveforms) if mesh is None else shard_batch(batch.waveforms, mesh)
    p_tectonic = np.asarray(_p_tectonic(model, variables, waveforms, compute_dtype))
    probabilities.append(p_tectonic[batch.mask > 0])
  return np.concatenate(probabilities) if probabilities else np.zeros(0, np.float32)
