"""Per-record probabilities of tectonic over a RecordSet, in fixed-size batches.

The last batch is padded to the batch size and its padding dropped on the host,
so one compiled function serves every batch. BatchNorm uses its running
statistics and dropout is off (``train=False``). An ensemble of networks of one
architecture (e.g. the seeds of a run) is one function too: ``jax.vmap`` over
the members' stacked variables (``stack_variables``, ``predict_ensemble``).
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

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


@functools.partial(jax.jit, static_argnums=0)
def _ensemble_p_tectonic(model: nn.Module, stacked_variables: Any, waveforms: jax.Array) -> jax.Array:
  def member(variables):
    logits = model.apply(variables, waveforms, train=False).astype(jnp.float32)
    return jax.nn.softmax(logits)[:, TECTONIC]
  return jax.vmap(member)(stacked_variables)


def stack_variables(members: Sequence[Any]) -> Any:
  """The members' variables stacked along a new leading axis (member i at index i).

  Raises:
    ValueError: if the members' trees or leaf shapes differ (not one architecture).
  """
  if not members:
    raise ValueError('no members to stack')
  structure = jax.tree.structure(members[0])
  shapes = [jax.tree.map(np.shape, m) for m in members]
  for i, member in enumerate(members[1:], 1):
    if jax.tree.structure(member) != structure or shapes[i] != shapes[0]:
      raise ValueError(f'member {i} has other variables than member 0 (another architecture or input shape): '
                       'only members of one architecture can be stacked')
  return jax.tree.map(lambda *leaves: np.stack([np.asarray(leaf) for leaf in leaves]), *members)


def predict_ensemble(model: nn.Module, stacked_variables: Any, records: RecordSet | np.ndarray, *,
                     batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
  """Probability of tectonic for every record from every member of an ensemble, in one compiled call.

  The members share ``model`` (one architecture, e.g. the seeds of a run) and differ
  in their variables; ``jax.vmap`` over the stacked variables evaluates them all on
  each batch, and the padded last batch keeps one shape, so the whole pass compiles once.

  Args:
    model: the Linen module every member is an instance of.
    stacked_variables: ``stack_variables([member variables, ...])``: leading axis = members.
    records: the records, or their bare (n, samples, channels) windows.
    batch_size: records per call; the last batch is zero-padded to it.

  Returns:
    (members (m, n), mean (n,)): float32 probabilities of class 0 (tectonic) of each
    member, and their mean over members (the ensemble's probability).
  """
  if not isinstance(records, RecordSet):
    records = RecordSet.unlabelled(np.asarray(records, np.float32))
  count = len(jax.tree.leaves(stacked_variables)[0])
  stacked_variables = jax.device_put(stacked_variables)  # once, not with every batch
  per_batch = []
  for batch in prefetch(batches(records, np.arange(len(records)), batch_size)):
    p_tectonic = np.asarray(_ensemble_p_tectonic(model, stacked_variables, jnp.asarray(batch.waveforms)))
    per_batch.append(p_tectonic[:, batch.mask > 0])
  members = np.concatenate(per_batch, axis=1) if per_batch else np.zeros((count, 0), np.float32)
  return members, members.mean(axis=0)


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
