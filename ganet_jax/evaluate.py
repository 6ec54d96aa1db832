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

from ganet_jax.conventions import TECTONIC
from ganet_jax.data.records import RecordSet


@functools.partial(jax.jit, static_argnums=(0,))
def _p_tectonic(model: nn.Module, variables: Any, waveforms: jax.Array) -> jax.Array:
  return jax.nn.softmax(model.apply(variables, waveforms, train=False))[:, TECTONIC]


def predict_probabilities(model: nn.Module, variables: Any, records: RecordSet, *,
                          batch_size: int = 32) -> np.ndarray:
  """Probability of tectonic for every record.

  Args:
    model: the Linen module.
    variables: {'params': ..., 'batch_stats': ...}.
    records: the records (a memory-mapped set is read one batch at a time).
    batch_size: records per call; the last batch is zero-padded to it.

  Returns:
    (len(records),) float32 probabilities of class 0 (tectonic).
  """
  probabilities = []
  for start in range(0, len(records), batch_size):
    batch = np.asarray(records.waveforms[start:start + batch_size], np.float32)
    real = len(batch)
    if real < batch_size:
      batch = np.concatenate([batch, np.zeros((batch_size - real, *batch.shape[1:]), np.float32)])
    probabilities.append(np.asarray(_p_tectonic(model, variables, jnp.asarray(batch)))[:real])
  return np.concatenate(probabilities) if probabilities else np.zeros(0, np.float32)
