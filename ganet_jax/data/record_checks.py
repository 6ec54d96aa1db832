"""Checks of a prepared record beyond its window: what a model needs of it, and faults in its signal.

``require_components`` refuses a record a model cannot see (its components missing
or flat); ``signal_notes`` and ``timing_notes`` describe faults worth a reader's
attention in the manifest's ``notes`` without rejecting the record.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import obspy

from ganet_jax import conventions
from ganet_jax.errors import RecordRejected

# A run of this many equal samples at a trace's extreme value is clipping, not signal
# (checked only above MIN_CLIP_COUNTS: a quiet trace of a few counts repeats its extreme).
CLIPPED_RUN = 5
MIN_CLIP_COUNTS = 1000
# Full-scale values of the usual digitisers (16-, 24- and 32-bit signed counts).
FULL_SCALE = (2 ** 15 - 1, 2 ** 23 - 1, 2 ** 31 - 1)


def needed_components(components: str) -> str:
  """The components a model seeing ``components`` cannot do without (``require_components``)."""
  return 'Z' if 'Z' in components else components


def needed_present(live: Sequence[bool], components: str) -> bool:
  """Whether per-slot signal flags (Z, N, E order) hold every component a model seeing ``components`` needs."""
  present = ''.join(c for c, alive in zip(conventions.COMPONENT_ORDER, live) if alive)
  return all(c in present for c in needed_components(components))


def require_components(channels_present: str, components: str) -> None:
  """Refuses a record that lacks signal in the components a model needs.

  A model that sees the vertical needs it (the P window is cut and picked on it);
  horizontals it sees may be missing, zero-filled as in training ('channel
  dropout'). A model that does not see the vertical needs every component it sees.

  Args:
    channels_present: the prepared record's components that carry signal
      (``PreparedRecord.extra['channels_present']``, e.g. 'ZN').
    components: the components the model sees (e.g. 'Z', 'ZNE').

  Raises:
    RecordRejected: naming the components missing, the model's and the record's.
  """
  needed = needed_components(components)
  missing = ''.join(c for c in needed if c not in channels_present)
  if missing:
    raise RecordRejected(f'no signal in {missing}, which the model needs (it sees {components}; the record '
                         f'carries {channels_present or "no component"}): not classified')


def clipping_note(trace: obspy.Trace) -> str:
  """A note when an integer trace is clipped (a run of samples at its extreme) or reaches full scale, else ''."""
  if not np.issubdtype(np.asarray(trace.data).dtype, np.integer) or not len(trace.data):
    return ''
  magnitude = np.abs(np.asarray(trace.data, np.int64))  # int32's most negative value has no int32 magnitude
  peak = int(magnitude.max())
  if peak in FULL_SCALE or peak - 1 in FULL_SCALE:
    return f'{trace.id}: reaches full scale ({peak} counts)'
  if peak < MIN_CLIP_COUNTS:
    return ''
  at_extreme = magnitude == peak
  edges = np.flatnonzero(np.diff(np.concatenate([[0], at_extreme.astype(np.int8), [0]])))
  runs = edges[1::2] - edges[::2]
  if runs.max() >= CLIPPED_RUN:
    return f'{trace.id}: clipped ({int(at_extreme.sum())} samples at {peak} counts, runs up to {int(runs.max())})'
  return ''


def overlap_note(traces: obspy.Stream) -> str:
  """A note when segments of one channel overlap in time and disagree there, else ''."""
  segments = sorted(traces, key=lambda t: t.stats.starttime)
  disagree = []
  for i, first in enumerate(segments):
    for second in segments[i + 1:]:
      start, end = second.stats.starttime, min(first.stats.endtime, second.stats.endtime)
      if end < start:
        continue
      a, b = first.slice(start, end).data, second.slice(start, end).data
      n = min(len(a), len(b))
      if n and not np.allclose(np.asarray(a[:n], np.float64), np.asarray(b[:n], np.float64)):
        disagree.append(f'{start} - {end}')
  if not disagree:
    return ''
  return f'{segments[0].id}: overlapping segments disagree ({", ".join(disagree[:3])}; the later one kept)'


def signal_notes(chosen: Mapping[int, obspy.Stream]) -> list[str]:
  """Notes on the signal faults of a record's chosen traces: clipping, full scale, disagreeing overlaps."""
  notes = []
  for slot in sorted(chosen):
    notes += [note for note in map(clipping_note, chosen[slot]) if note]
    overlap = overlap_note(chosen[slot])
    if overlap:
      notes.append(overlap)
  return notes


def timing_notes(p_onset: obspy.UTCDateTime, origin: obspy.UTCDateTime, distance_km: float | None) -> list[str]:
  """Notes on impossible geometry: a P onset before the origin, a negative distance."""
  notes = []
  if p_onset < origin:
    notes.append(f'P onset {p_onset} is {origin - p_onset:.2f} s before the origin {origin}')
  if distance_km is not None and distance_km < 0:
    notes.append(f'negative distance {distance_km:g} km')
  return notes
