"""Which of a record's traces form its components, and each component merged at the output rate.

A record's components come from one sensor: one network, station, location and
band/instrument code (``IU.MAJO.00.BH``). When a record's traces hold several
sensors the sensor is chosen as a whole, never a component at a time:

  1. sensors with a live vertical (not every sample equal) before the others: the
     onset is picked on it and most models need it;
  2. then the sensors with the most live components, then with the most components;
  3. then the highest sampling rate (a rate below ``min_sampling_rate`` is refused
     later whatever the choice);
  4. two or more sensors still left are refused, naming them: a ``location`` (or
     ``channel``) column in the records table (``--`` for the blank location code),
     or ``Stream.select``, picks one.

The location code's order never decides, and the rate only among sensors that are
equally live and complete: a noise-only location is refused as a tie rather than
chosen by its code, and a dead sensor at a higher rate is never chosen over a live one.

Samples masked by ObsPy (``Stream.merge()`` leaves a gap as masked samples over
a fill value) are gaps, as gaps between a file's segments are: each masked trace
is split at its masks first, so the gap rules (``preprocess.check_gaps``) apply.
"""

from __future__ import annotations

import numpy as np
import obspy

from ganet_jax.data import glitches
from ganet_jax.data import preprocess
from ganet_jax.data.preprocess import PreprocessConfig
from ganet_jax.errors import RecordRejected


def sensor_code(trace: obspy.Trace) -> str:
  """The sensor a trace comes from: network.station.location.band+instrument (``IU.MAJO.00.BH``)."""
  return trace.id[:-1]


def unmasked(stream: obspy.Stream) -> obspy.Stream:
  """``stream`` with each masked trace split into its unmasked segments (masked samples are gaps, not data)."""
  out = obspy.Stream()
  for trace in stream:
    if np.ma.isMaskedArray(trace.data) and np.ma.getmaskarray(trace.data).any():
      out += trace.split()  # ObsPy's split keeps each run of unmasked samples as its own trace
    else:
      out.append(trace)
  return out


def _live(traces: obspy.Stream) -> bool:
  """Whether any sample of ``traces`` differs from the others (a dead channel repeats one value)."""
  return any(trace.stats.npts > 1 and np.ptp(np.asarray(trace.data, np.float64)) > 0 for trace in traces)


def _components(stream: obspy.Stream) -> tuple[dict[str, dict[int, dict[str, obspy.Stream]]], set[str]]:
  """{sensor: {slot: {trace id: its segments}}} of the traces with samples, and the ids of unknown channels."""
  sensors: dict[str, dict[int, dict[str, obspy.Stream]]] = {}
  unknown = set()
  for trace in stream:
    if trace.stats.npts == 0:
      continue
    slot = preprocess.component_slot(trace.stats.channel)
    if slot is None:
      unknown.add(trace.id)
      continue
    sensors.setdefault(sensor_code(trace), {}).setdefault(slot, {}).setdefault(trace.id, obspy.Stream()).append(trace)
  return sensors, unknown


def choose_sensor(sensors: dict[str, dict[int, dict[str, obspy.Stream]]], min_sampling_rate: float = 0.0
                  ) -> tuple[str, list[str]]:
  """The sensor of a record, by the module docstring's rule, and a note when others were left.

  Raises:
    RecordRejected: two or more sensors left by the rule, naming them and how to pick one
      (or, when all of them are below ``min_sampling_rate``, saying so).
  """
  alive = {code: {slot for slot in slots if _live(obspy.Stream([t for ids in slots[slot].values() for t in ids]))}
           for code, slots in sensors.items()}
  live = {code: len(slots) for code, slots in alive.items()}
  rate = {code: max(t.stats.sampling_rate for ids in slots.values() for traces in ids.values() for t in traces)
          for code, slots in sensors.items()}
  rank = {code: (0 in alive[code], live[code], len(sensors[code]), rate[code]) for code in sensors}
  best = max(rank.values())
  left = sorted(code for code in sensors if rank[code] == best)
  if len(left) > 1 and rate[left[0]] < min_sampling_rate:
    raise RecordRejected(f'{", ".join(c + "?" for c in left)}: sampling rate {rate[left[0]]:g} Hz < '
                         f'{min_sampling_rate:g} Hz (--min_sampling_rate) in every sensor')
  if len(left) > 1:
    described = ', '.join(f'{code}? ({len(sensors[code])} components, {live[code]} live, {rate[code]:g} Hz)'
                          for code in left)
    raise RecordRejected(f'holds {len(left)} sensors of this station that nothing tells apart: {described}; '
                         "name one with a location column in the records table ('--' for the blank code; a "
                         "channel column picks the band), or Stream.select(location=...) for a stream")
  notes = []
  if len(sensors) > 1:
    describe = lambda code: f'{code}? ({len(sensors[code])} components, {live[code]} live, {rate[code]:g} Hz)'
    others = ', '.join(describe(code) for code in sorted(sensors) if code != left[0])
    notes.append(f'sensor {describe(left[0])} kept; left out {others}')
  return left[0], notes


def choose_traces(stream: obspy.Stream, min_sampling_rate: float = 0.0) -> tuple[dict[int, obspy.Stream], list[str]]:
  """Per component slot (Z, N, E) the traces of one SEED id of one sensor, with notes on what was left.

  Masked traces are split at their masks first (``unmasked``).

  Args:
    stream: the record's traces.
    min_sampling_rate: the lowest rate accepted; sensors tied below it are refused for their rate.

  Raises:
    RecordRejected: when no trace has a Z/N/E/1/2 component code, or several
      sensors are left by the module docstring's rule.
  """
  sensors, unknown = _components(unmasked(stream))
  notes = [f'unknown channel {i} left out' for i in sorted(unknown)]
  if not sensors:
    raise RecordRejected(f'no Z/N/E/1/2 channel among {sorted(unknown)}')
  sensor, sensor_notes = choose_sensor(sensors, min_sampling_rate)
  notes += sensor_notes
  chosen = {}
  for slot, ids in sensors[sensor].items():
    # One sensor with two codes for a component (BHN and BH1): the live one, then the longest.
    best = max(ids, key=lambda i: (_live(ids[i]), sum(t.stats.npts for t in ids[i]), i))
    if len(ids) > 1:
      notes.append(f'kept {best} of {sorted(ids)}')
    chosen[slot] = ids[best]
  return chosen, notes


def check_glitches(chosen: dict[int, obspy.Stream]) -> None:
  """Refuses a record any of whose chosen traces holds a glitch (``glitches.check_glitches``).

  Raises:
    RecordRejected: naming the trace and the glitch's time.
  """
  for slot in sorted(chosen):
    for trace in chosen[slot]:
      glitches.check_glitches(trace)


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
