"""A record's event as its table, catalog and SAC headers give it: origin time, label and type, distance.

The order each is looked for in is declared in ``ingest``'s module docstring.
"""

from __future__ import annotations

import math
from typing import Mapping

import obspy

from ganet_jax.data import catalog as catalog_lib
from ganet_jax.data import labels as labels_lib
from ganet_jax.data import preprocess
from ganet_jax.data.records_table import InputRecord
from ganet_jax.errors import RecordRejected


def parse_float(text: str) -> float | None:
  """A finite float from table text, or None for blank/unparsable/non-finite.

  Examples:
    >>> parse_float('12.5'), parse_float(''), parse_float('nan'), parse_float('n/a')
    (12.5, None, None, None)
  """
  try:
    value = float(text)
  except (TypeError, ValueError):
    return None
  return value if math.isfinite(value) else None


def field_time(text: str, what: str) -> obspy.UTCDateTime | None:
  """The time a table field holds (``what`` names it in the reason), or None when blank.

  Raises:
    RecordRejected: when the field holds no time ObsPy reads.
  """
  if not text:
    return None
  try:
    return obspy.UTCDateTime(text)
  except Exception:  # ObsPy raises several types for unparsable times.
    raise RecordRejected(f'{what} {text!r} is not a time') from None


def origin_from_p_time(record: InputRecord, notes: list[str]) -> obspy.UTCDateTime:
  """The given P time, standing in for a record's unknown origin time (noted), else a rejection."""
  given = field_time(record.field('p_time'), 'P time')
  if given is None:
    raise RecordRejected('no origin time (table column, SAC o header or catalog) and no P time to stand in for it')
  notes.append('no origin time: the P time stands in for it')
  return given


def record_label(record: InputRecord, event: catalog_lib.CatalogEvent | None,
                 type_map: Mapping[str, str]) -> tuple[int, str]:
  """(label, event type) from the table or catalog type, checked against a label column.

  Raises:
    RecordRejected: unknown type, a label that is not 0/1, or type and label disagreeing.
  """
  event_type = record.field('event_type') or (event.event_type if event else '')
  given = record.field('label')
  if event_type:
    label = labels_lib.label_for_event_type(event_type, type_map)
    if given and given != str(label):
      raise RecordRejected(f'event type {event_type!r} means label {label} but the label column says {given!r}')
    return label, event_type
  if given not in ('0', '1'):
    raise RecordRejected(f'no event type and label {given!r} is not 0 or 1')
  return int(given), 'earthquake' if given == '0' else 'non-tectonic'


def record_distance_km(record: InputRecord, traces: dict[int, obspy.Stream], origin: obspy.UTCDateTime,
                       event: catalog_lib.CatalogEvent | None, inventory) -> float | None:
  """Epicentral distance from the table, else from event and station coordinates."""
  given = parse_float(record.field('distance_km'))
  if given is not None:
    return given
  sac = next(iter(traces.values()))[0].stats.get('sac', {})
  def first(*values):
    return next((v for v in values if v is not None and math.isfinite(v)), None)
  ev_lat = first(parse_float(record.field('event_latitude')), event.latitude if event else None, sac.get('evla'))
  ev_lon = first(parse_float(record.field('event_longitude')), event.longitude if event else None, sac.get('evlo'))
  trace = next(iter(traces.values()))[0]
  station = catalog_lib.station_coordinates(inventory, trace.stats.network, trace.stats.station, origin)
  st_lat = first(parse_float(record.field('station_latitude')), station[0] if station else None, sac.get('stla'))
  st_lon = first(parse_float(record.field('station_longitude')), station[1] if station else None, sac.get('stlo'))
  if None in (ev_lat, ev_lon, st_lat, st_lon):
    return float(sac['dist']) if sac.get('dist') is not None else None  # ObsPy drops unset (-12345) headers
  return preprocess.epicentral_distance_km(ev_lat, ev_lon, st_lat, st_lon)
