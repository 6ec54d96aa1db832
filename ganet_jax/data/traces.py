"""Which of a record's traces form its components, and each component merged at the output rate."""

from __future__ import annotations

import obspy

from ganet_jax.data import preprocess
from ganet_jax.data.preprocess import PreprocessConfig
from ganet_jax.errors import RecordRejected


def choose_traces(stream: obspy.Stream) -> tuple[dict[int, obspy.Stream], list[str]]:
  """Per component slot (Z, N, E) the traces of one SEED id, with notes on what was left.

  Raises:
    RecordRejected: when no trace has a Z/N/E/1/2 component code.
  """
  by_slot: dict[int, dict[str, obspy.Stream]] = {}
  unknown = set()
  for trace in stream:
    if trace.stats.npts == 0:
      continue
    slot = preprocess.component_slot(trace.stats.channel)
    if slot is None:
      unknown.add(trace.id)
      continue
    by_slot.setdefault(slot, {}).setdefault(trace.id, obspy.Stream()).append(trace)
  notes = [f'unknown channel {i} left out' for i in sorted(unknown)]
  if not by_slot:
    raise RecordRejected(f'no Z/N/E/1/2 channel among {sorted(unknown)}')
  chosen = {}
  for slot, ids in by_slot.items():
    best = max(ids, key=lambda i: (ids[i][0].stats.sampling_rate, sum(t.stats.npts for t in ids[i]), i))
    if len(ids) > 1:
      notes.append(f'kept {best} of {sorted(ids)}')
    chosen[slot] = ids[best]
  return chosen, notes


def merged_at_rate(traces: obspy.Stream, config: PreprocessConfig) -> tuple[obspy.Trace, list]:
  """One gap-filled trace at the output rate and the gap intervals of the input.

  Raises:
    RecordRejected: for NaN/inf samples, a too-low rate, or traces whose rates differ.
  """
  rates = {t.stats.sampling_rate for t in traces}
  if len(rates) > 1:
    raise RecordRejected(f'{traces[0].id}: segments at different rates {sorted(rates)}')
  for trace in traces:
    preprocess.reject_non_finite(trace)
  merged, gaps = preprocess.merge_segments(traces)
  return preprocess.resample(merged, config.sampling_rate, config.min_sampling_rate), gaps
