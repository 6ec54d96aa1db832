"""Per-record probabilities of tectonic over a RecordSet, in fixed-size batches.

The last batch is padded to the batch size and its padding dropped on the host,
so one compiled function serves every batch. BatchNorm uses its running
statistics and dropout is off (``train=False``). An ensemble of networks of one
architecture (e.g. the seeds of a run) is one function too, over the members'
stacked variables (``stack_variables``, ``predict_ensemble``): ``jax.vmap`` where
the batch is taken whole (accelerators), a loop over the members on CPU.

On CPU a batch runs as a loop over chunks of a few records (``apply_in_chunks``).
Records are independent in inference, so the output is the same, but a chunk's
activations stay in the processor's cache from one layer to the next, where a whole
batch's go through main memory at every elementwise pass: 1.6x the records/s of
the whole batch at once on a 2-core CPU (benchmarks/README.md, "What the library's CPU formulations rest on").
Accelerators take the batch whole.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

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


# Record-samples per chunk on CPU: 2 records of 10000 samples, whose widest GA-Net
# activations (~3.5 MB) stay in cache between layers. Measured at 1, 2, 3, 4 and 6
# records per chunk: 2 fastest, 3-4 7% slower, 1 and 6 ~25% (benchmarks/README.md).
CPU_CHUNK_SAMPLES = 20_000


def inference_chunk(record_samples: int, backend: str | None = None) -> int | None:
  """Records per chunk of an inference batch: ``CPU_CHUNK_SAMPLES`` worth on CPU, None (whole) elsewhere."""
  if (backend or jax.default_backend()) != 'cpu':
    return None
  return max(1, CPU_CHUNK_SAMPLES // max(1, record_samples))


def apply_in_chunks(fn: Callable[[jax.Array], Any], inputs: jax.Array, chunk: int | None) -> Any:
  """``fn(inputs)`` computed ``chunk`` records at a time (``jax.lax.map``), for ``fn`` per record.

  ``fn`` must treat the records of its batch independently (inference: BatchNorm on
  running statistics, no dropout); the output is then ``fn(inputs)``'s, up to float32
  rounding of the differently shaped matrix products. The batch is zero-padded to a
  multiple of ``chunk`` and the padding's outputs dropped. None, or a chunk no smaller
  than the batch: one call on the whole batch.
  """
  count = inputs.shape[0]
  if chunk is None or chunk >= count:
    return fn(inputs)
  if chunk < 1:
    raise ValueError(f'chunk must be a positive number of records, got {chunk}')
  padded = jnp.pad(inputs, [(0, -count % chunk)] + [(0, 0)] * (inputs.ndim - 1))
  outputs = jax.lax.map(fn, padded.reshape(-1, chunk, *inputs.shape[1:]))
  return jax.tree.map(lambda out: out.reshape(-1, *out.shape[2:])[:count], outputs)


def parse_chunk(text: str) -> int | str | None:
  """A command line's chunk ('auto', 'none' or a positive number of records) as ``chunk=`` takes it.

  Raises:
    ValueError: for anything else.
  """
  if text in ('auto', 'none'):
    return None if text == 'none' else text
  if not text.isdigit() or int(text) < 1:
    raise ValueError(f"a chunk is 'auto', 'none' or a positive number of records, got {text!r}")
  return int(text)


def resolve_chunk(chunk: int | str | None, record_samples: int) -> int | None:
  """``chunk=`` as records per chunk: 'auto' becomes ``inference_chunk``'s choice; None (whole) and numbers stay.

  Raises:
    ValueError: for anything else.
  """
  if chunk == 'auto':
    return inference_chunk(record_samples)
  if chunk is not None and (isinstance(chunk, str) or chunk < 1):
    raise ValueError(f"chunk must be 'auto', None or a positive number of records, got {chunk!r}")
  return chunk


def _member_p_tectonic(model: nn.Module, variables: Any, waveforms: jax.Array, chunk: int | None) -> jax.Array:
  def p_tectonic(records):
    logits = model.apply(variables, records, train=False).astype(jnp.float32)
    return jax.nn.softmax(logits)[:, TECTONIC]
  return apply_in_chunks(p_tectonic, waveforms, chunk)


@functools.partial(jax.jit, static_argnums=(0, 3, 4))
def _p_tectonic(model: nn.Module, variables: Any, waveforms: jax.Array, compute_dtype: str | None,
                chunk: int | None) -> jax.Array:
  if compute_dtype is not None:
    variables, waveforms = cast_floating((variables, waveforms), compute_dtype)
  return _member_p_tectonic(model, variables, waveforms, chunk)


@functools.partial(jax.jit, static_argnums=(0, 3))
def _ensemble_p_tectonic(model: nn.Module, stacked_variables: Any, waveforms: jax.Array,
                         chunk: int | None) -> jax.Array:
  def member(variables):
    return _member_p_tectonic(model, variables, waveforms, chunk)
  if chunk is None:  # everything at once: the members side by side
    return jax.vmap(member)(stacked_variables)
  # In chunks (CPU) the members take turns: vmapping them would multiply a chunk's
  # working set by their number, and ran at 0.83x the loop (benchmarks/README.md).
  return jax.lax.map(member, stacked_variables)


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
                     batch_size: int = 32, chunk: int | str | None = 'auto') -> tuple[np.ndarray, np.ndarray]:
  """Probability of tectonic for every record from every member of an ensemble, in one compiled call.

  The members share ``model`` (one architecture, e.g. the seeds of a run) and differ
  in their variables. One compiled call evaluates them all on each batch: ``jax.vmap``
  over the stacked variables when the batch is taken whole (``chunk=None``, the
  default on accelerators), the members in turn when it runs in chunks (CPU). The
  padded last batch keeps one shape, so the whole pass compiles once.

  Args:
    model: the Linen module every member is an instance of.
    stacked_variables: ``stack_variables([member variables, ...])``: leading axis = members.
    records: the records, or their bare (n, samples, channels) windows.
    batch_size: records per call; the last batch is zero-padded to it.
    chunk: records the network takes at a time within a batch (``apply_in_chunks``):
      'auto' (``inference_chunk``: a few on CPU, the whole batch elsewhere), None
      (the whole batch) or a number.

  Returns:
    (members (m, n), mean (n,)): float32 probabilities of class 0 (tectonic) of each
    member, and their mean over members (the ensemble's probability).
  """
  if not isinstance(records, RecordSet):
    records = RecordSet.unlabeled(np.asarray(records, np.float32))
  count = len(jax.tree.leaves(stacked_variables)[0])
  chunk = resolve_chunk(chunk, records.waveforms.shape[1])
  stacked_variables = jax.device_put(stacked_variables)  # once, not with every batch
  per_batch = []
  for batch in prefetch(batches(records, np.arange(len(records)), batch_size)):
    p_tectonic = np.asarray(_ensemble_p_tectonic(model, stacked_variables, jnp.asarray(batch.waveforms), chunk))
    per_batch.append(p_tectonic[:, batch.mask > 0])
  members = np.concatenate(per_batch, axis=1) if per_batch else np.zeros((count, 0), np.float32)
  return members, members.mean(axis=0)


def predict_probabilities(model: nn.Module, variables: Any, records: RecordSet | np.ndarray, *,
                          batch_size: int = 32, mesh: Mesh | None = None,
                          compute_dtype: str | None = None, chunk: int | str | None = 'auto') -> np.ndarray:
  """Probability of tectonic for every record.

  Args:
    model: the Linen module.
    variables: {'params': ..., 'batch_stats': ...}.
    records: the records (a memory-mapped set is read one batch at a time), or
      their bare (n, samples, channels) windows.
    batch_size: records per call; the last batch is zero-padded to it.
    mesh: spread each batch over this mesh's devices (``ganet_jax.sharding``);
      ``batch_size`` must divide by its size. None: the default device.
    compute_dtype: e.g. 'bfloat16': a cast of the variables and input, for a module
      without a ``dtype`` field of its own (a registered model takes the dtype as
      its field instead: ``models.model_kwargs``).
    chunk: records the network takes at a time within a batch, as in
      ``predict_ensemble``; with a ``mesh`` each device takes its share whole.

  Returns:
    (len(records),) float32 probabilities of class 0 (tectonic).
  """
  if not isinstance(records, RecordSet):
    records = RecordSet.unlabeled(np.asarray(records, np.float32))
  chunk = None if mesh is not None else resolve_chunk(chunk, records.waveforms.shape[1])
  if chunk is not None and chunk >= batch_size:
    chunk = None  # one chunk is the whole batch: the same program as None, compiled once
  if mesh is not None:
    variables = replicate(variables, mesh)
  probabilities = []
  for batch in prefetch(batches(records, np.arange(len(records)), batch_size)):
    waveforms = jnp.asarray(batch.waveforms) if mesh is None else shard_batch(batch.waveforms, mesh)
    p_tectonic = np.asarray(_p_tectonic(model, variables, waveforms, compute_dtype, chunk))
    probabilities.append(p_tectonic[batch.mask > 0])
  return np.concatenate(probabilities) if probabilities else np.zeros(0, np.float32)
