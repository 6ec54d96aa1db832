"""Which files form one input record (one event at one station), and which traces of a file are its.

Rows (one per file, from a records table or a folder scan) are grouped by event
first, then by network, station, location and band/instrument code, so a record
never mixes two events or two stations:

  - an event is its ``event_id`` where given; rows without one join the event
    whose origin is within ``EVENT_TOLERANCE_S`` of theirs (float32 SAC headers
    and catalog rounding move an origin by microseconds), and each event's rows
    get one origin time, so splits keep it whole;
  - a row without event id or origin takes the origin from its file's SAC ``o``
    header, and without one is grouped with files of its station that start
    within the tolerance of it;
  - a row without station or channel takes them from its file's headers when the
    file holds one station; otherwise (several stations, blank codes, unreadable)
    the file is a record of its own;
  - a table is refused (``ValueError`` naming the rows) when one event id has
    origins further apart than the tolerance, two ids have the same origin, or
    a row's origin fits two events.
"""

from __future__ import annotations

import pathlib
from typing import Mapping, Sequence

import obspy

from ganet_jax.data import file_checks
from ganet_jax.data import picking
from ganet_jax.errors import RecordRejected

# Origins closer than this are one event; further apart, two.
EVENT_TOLERANCE_S = 1.0
STATION_FIELDS = ('network', 'station', 'location', 'channel')
BLANK_LOCATION = '--'  # a location column's value for the blank location code


def header_fields(path: pathlib.Path) -> tuple[dict[str, str], obspy.UTCDateTime | None]:
  """The station codes and SAC origin a file's headers give, and its first start time.

  Codes are given only for a file of one station (and the channel only for one
  channel); a blank station code is no station code. Returns ({}, None) for a
  file ObsPy cannot read, or that is not a regular file (a FIFO would block the
  read): its record is rejected later with the reason.
  """
  if file_checks.regular_file_problem(path):
    return {}, None
  try:
    stream = obspy.read(str(path), headonly=True)
  except Exception:  # ObsPy raises many types for a file of no format it knows
    return {}, None
  if not len(stream):
    return {}, None
  fields = {}
  stations = {(t.stats.network, t.stats.station, t.stats.location) for t in stream}
  if len(stations) == 1 and next(iter(stations))[1].strip():
    fields['network'], fields['station'], fields['location'] = next(iter(stations))
    channels = {t.stats.channel for t in stream}
    if len(channels) == 1:
      fields['channel'] = channels.pop()
  origins = {str(origin) for origin in map(picking.sac_origin, stream) if origin is not None}
  if len(origins) == 1:
    fields['origin_time'] = origins.pop()
  return fields, min(t.stats.starttime for t in stream)


def complete_from_headers(rows: Sequence[Mapping[str, str]], base_dir: pathlib.Path
                          ) -> tuple[list[dict[str, str]], list[obspy.UTCDateTime | None]]:
  """Copies of ``rows`` with blank station codes and origin filled from the files' headers.

  Only rows lacking station and channel, or lacking both event id and origin, have
  their file read (a table that gives everything costs no read).

  Returns:
    (rows, start time of each row's file, None where not read).
  """
  completed, starts = [], []
  for row in rows:
    row = dict(row)
    start = None
    if not (row.get('station') and row.get('channel')) or not (row.get('event_id') or row.get('origin_time')):
      fields, start = header_fields(base_dir / row['file'])
      if not (row.get('station') and row.get('channel')):
        for name in STATION_FIELDS:
          if not row.get(name) and name in fields:
            row[name] = fields[name]
      if not row.get('origin_time') and 'origin_time' in fields:
        row['origin_time'] = fields['origin_time']
    completed.append(row)
    starts.append(start)
  return completed, starts


def _time(text: str) -> obspy.UTCDateTime | None:
  try:
    return obspy.UTCDateTime(text) if text else None
  except Exception:  # an unparsable origin is the record's rejection reason later
    return None


def _row(rows: Sequence[Mapping[str, str]], index: int) -> str:
  return f'row {index + 1} ({rows[index].get("file", "")})'


def _clusters(times: Sequence[tuple[obspy.UTCDateTime, int]], tolerance_s: float) -> list[list[int]]:
  """Row indices of times chained within ``tolerance_s`` of each other, in time order."""
  clusters: list[list[int]] = []
  last = None
  for time, index in sorted(times):
    if last is None or time - last > tolerance_s:
      clusters.append([])
    clusters[-1].append(index)
    last = time
  return clusters


def assign_events(rows: list[dict[str, str]], starts: Sequence[obspy.UTCDateTime | None] = (), *,
                  tolerance_s: float = EVENT_TOLERANCE_S) -> list[tuple | None]:
  """Each row's event key, with the rows' event id and origin made one per event (in place).

  Args:
    rows: the rows (``complete_from_headers``' copies); a row without event id that
      joins an id's event gets that id, and every row of an event gets the event's
      first origin time, so its records agree on both.
    starts: the rows' file start times, grouping rows that have neither id nor origin.
    tolerance_s: origins closer than this are one event.

  Returns:
    Per row ('id', event id), ('origin', origin) or ('start', start time); None
    when nothing tells the row's event.

  Raises:
    ValueError: one event id with origins further apart than ``tolerance_s``, two
      ids whose origins are within it, or a row whose origin fits two ids, naming the rows.
  """
  times = [_time(row.get('origin_time', '')) for row in rows]
  by_id: dict[str, list[int]] = {}
  for index, row in enumerate(rows):
    if row.get('event_id'):
      by_id.setdefault(row['event_id'], []).append(index)
  id_origin: dict[str, tuple[obspy.UTCDateTime, int]] = {}
  for event_id, indices in by_id.items():
    timed = [(times[i], i) for i in indices if times[i] is not None]
    if not timed:
      continue
    (early, first), (late, last) = min(timed), max(timed)
    if late - early > tolerance_s:
      raise ValueError(f'event_id {event_id!r} has origins {early} ({_row(rows, first)}) and {late} '
                       f'({_row(rows, last)}), {late - early:.1f} s apart: one event id must name one event')
    id_origin[event_id] = min(timed, key=lambda t: t[1])
  ordered = sorted((time, index, event_id) for event_id, (time, index) in id_origin.items())
  for (t1, i1, id1), (t2, i2, id2) in zip(ordered, ordered[1:]):
    if t2 - t1 <= tolerance_s:
      raise ValueError(f'event_ids {id1!r} ({_row(rows, i1)}) and {id2!r} ({_row(rows, i2)}) have origins '
                       f'{t1} and {t2}, within {tolerance_s:g} s: one event under two ids, or two events the '
                       'table cannot tell apart')
  keys: list[tuple | None] = [('id', row['event_id']) if row.get('event_id') else None for row in rows]
  loose = []
  for index, row in enumerate(rows):
    if keys[index] is not None or times[index] is None:
      continue
    fits = [event_id for event_id, (time, _) in id_origin.items() if abs(time - times[index]) <= tolerance_s]
    if len(fits) > 1:
      raise ValueError(f'{_row(rows, index)} has no event_id and its origin {times[index]} fits events '
                       f'{fits[0]!r} and {fits[1]!r}: give its event_id')
    if fits:
      row['event_id'] = fits[0]
      keys[index] = ('id', fits[0])
    else:
      loose.append((times[index], index))
  loose_events = _clusters(loose, tolerance_s)
  for cluster in loose_events:
    for index in cluster:
      keys[index] = ('origin', min(cluster))
  id_events = [[i for i, key in enumerate(keys) if key == ('id', event_id)] for event_id in id_origin]
  for members in id_events + loose_events:
    # One origin per event (its first row's), so its records agree and splits keep it whole.
    origin = rows[min(i for i in members if times[i] is not None)]['origin_time']
    for index in members:
      if times[index] is not None:
        rows[index]['origin_time'] = origin
  undated = [(starts[i], i) for i in range(len(rows)) if keys[i] is None and i < len(starts) and starts[i]]
  for cluster in _clusters(undated, tolerance_s):
    for index in cluster:
      keys[index] = ('start', min(cluster))
  return keys


def check_one_type_per_event(rows: Sequence[Mapping[str, str]], keys: Sequence[tuple | None]) -> None:
  """Raises ValueError when the rows of one event (``assign_events``' keys) give it two event types or labels.

  Types are compared as ``labels.label_for_event_type`` reads them (case and
  surrounding spaces ignored); blank cells say nothing. A table cannot mean two
  labels for one event, and which rows are wrong is the user's call, so no
  majority is taken.

  Raises:
    ValueError: naming the event, each value with its rows, and what to do.
  """
  values: dict[tuple, dict[str, list[int]]] = {}
  for index, (row, key) in enumerate(zip(rows, keys)):
    for field in ('event_type', 'label'):
      text = row.get(field, '').strip().lower()
      if key is not None and text:
        values.setdefault((key, field), {}).setdefault(text, []).append(index)
  for (key, field), found in values.items():
    if len(found) > 1:
      event = f'event_id {key[1]!r}' if key[0] == 'id' else f'the event at {key[1]}'
      said = ' and '.join(f'{rows[indices[0]][field]!r} in {_rows(rows, indices)}' for indices in found.values())
      raise ValueError(f'{event} has {field} {said}: one event has one {field}; correct those rows (or give '
                       'the records of different events different event_ids)')


def _rows(rows: Sequence[Mapping[str, str]], indices: Sequence[int]) -> str:
  shown = ', '.join(_row(rows, index) for index in indices[:3])
  return f'{len(indices)} row{"s" if len(indices) > 1 else ""}: {shown}' + (', ...' if len(indices) > 3 else '')


def select_traces(stream: obspy.Stream, row: Mapping[str, str], name: str) -> obspy.Stream:
  """The traces of one file that belong to its row's station.

  A row's network, station and location, where given, must equal the trace's (the
  location ``--`` names the blank location code, as in SEED and FDSN requests); its
  channel, where given, selects the band/instrument code (``HHZ`` keeps HHZ, HHN
  and HHE of a 3-component file). A file still holding several stations is refused
  rather than merged: nothing says which is the record's.

  Args:
    stream: the file's traces.
    row: its row (network/station/location/channel fields, '' when absent).
    name: the file, for messages.

  Raises:
    RecordRejected: no trace of the row's station, or several stations and no way to choose.
  """
  wanted = {field: row.get(field, '') for field in ('network', 'station', 'location') if row.get(field, '')}
  if wanted.get('location') == BLANK_LOCATION:
    wanted['location'] = ''
  band = row.get('channel', '')[:-1]
  kept = obspy.Stream([t for t in stream if all(t.stats[f] == v for f, v in wanted.items())
                       and (not band or t.stats.channel[:-1] == band)])
  if not len(kept):
    held = sorted({t.id for t in stream})
    asked = '.'.join(row.get(f, '') or '*' for f in STATION_FIELDS)
    raise RecordRejected(f'{name}: no trace of {asked} (the file holds {", ".join(held)})')
  stations = sorted({f'{t.stats.network}.{t.stats.station}' for t in kept})
  if len(stations) > 1:
    raise RecordRejected(f'{name}: holds {len(stations)} stations ({", ".join(stations)}) and nothing names the '
                         "record's: give network/station columns in a records table (or one station per file)")
  return kept
