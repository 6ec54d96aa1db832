"""A record's event as its table, catalog and SAC headers give it: origin time, label and type, distance.

The order each is looked for in is declared in ``ingest``'s module docstring.
"""

from __future__ import annotations

import datetime
import math
import re
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


# The ISO 8601 forms tables write: a date, or a date and time of day (a fraction of a second and 'Z' optional).
_PLAIN_ISO_TIME = re.compile(r'([0-9]{4})-([0-9]{2})-([0-9]{2})(?:T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?Z?)?')
_POSIX_EPOCH = datetime.datetime(1970, 1, 1)


def utc_time(text: str) -> obspy.UTCDateTime:
  """``obspy.UTCDateTime(text)``, read without ObsPy's format detection when ``text`` is a plain ISO 8601 time.

  Such text ('2020-01-01', '2020-01-01T12:00:00', '2020-01-01T12:00:00.25Z') is read
  with the steps of ObsPy's ISO 8601 reader: the calendar fields as a ``datetime``,
  plus the fraction as float seconds (``timedelta`` rounds it to microseconds), to
  integer nanoseconds since 1970. Any other text, and fields out of range, go to
  ObsPy, so what it refuses is still refused as it refuses it.

  Raises:
    Exception: whatever ``obspy.UTCDateTime(text)`` raises.
  """
  match = _PLAIN_ISO_TIME.fullmatch(text)
  if match:
    year, month, day, hour, minute, second, fraction = match.groups()
    try:
      moment = datetime.datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0))
      moment += datetime.timedelta(seconds=float(f'0.{fraction}') if fraction else 0.0)
    except (ValueError, OverflowError):
      pass
    else:
      elapsed = moment - _POSIX_EPOCH
      return obspy.UTCDateTime(ns=(elapsed.days * 86400 + elapsed.seconds) * 10**9 + elapsed.microseconds * 1000)
  return obspy.UTCDateTime(text)


def field_time(text: str, what: str) -> obspy.UTCDateTime | None:
  """The time a table field holds (``what`` names it in the reason), or None when blank.

  Raises:
    RecordRejected: when the field holds no time ObsPy reads.
  """
  if not text:
    return None
  try:
    return utc_time(text)
  except Exception:  # ObsPy raises several types for unparsable times.
    raise RecordRejected(f'{what} {text!r} is not a time') from None


def origin_from_p_time(record: InputRecord, notes: list[str]) -> obspy.UTCDateTime:
  """The given P time, standing in for a record's unknown origin time (noted), else a rejection."""
  given = field_time(record.field('p_time'), 'P time')
  if given is None:
    raise RecordRejected('no origin time (table column, SAC o header or catalog) and no P time to stand in for it')
  notes.append('no origin time: the P time stands in for it')
  return given


# Catalog types that say nothing of the source: the table's type stands.
UNSTATED_TYPES = frozenset({'', 'not reported', 'not existing'})


def record_label(record: InputRecord, event: catalog_lib.CatalogEvent | None,
                 type_map: Mapping[str, str]) -> tuple[int, str]:
  """(label, event type) from the table's type or label, and the catalog's type; the two must agree.

  The table's event type, else its label column, else the catalog event's type
  gives the label. Where both the table and the catalog say what the event is, they
  must mean the same label: a disagreement is refused (no source has precedence).

  Raises:
    RecordRejected: unknown type, a label that is not 0/1, type and label disagreeing,
      or the table and the catalog event disagreeing (naming both, the event and what to do).
  """
  table_type, given = record.field('event_type'), record.field('label')
  catalog_type = event.event_type if event and event.event_type.strip().lower() not in UNSTATED_TYPES else ''
  if table_type:
    label = labels_lib.label_for_event_type(table_type, type_map)
    if given and given != str(label):
      raise RecordRejected(f'event type {table_type!r} means label {label} but the label column says {given!r}')
    said = f'event type {table_type!r} (label {label})'
  elif given in ('0', '1'):
    label, said = int(given), f'label {given}'
  elif given or not catalog_type:
    unstated = f' (catalog event {event.event_id} is {event.event_type!r})' if event and event.event_type else ''
    raise RecordRejected(f'no event type{unstated} and label {given!r} is not 0 or 1')
  else:
    return labels_lib.label_for_event_type(catalog_type, type_map), catalog_type
  if catalog_type:
    catalog_label = labels_lib.label_for_event_type(catalog_type, type_map)
    if catalog_label != label:
      raise RecordRejected(f'the records table says {said} but catalog event {event.event_id} is '
                           f'{catalog_type!r} (label {catalog_label}): correct the table or the catalog '
                           f'(or blank the table\'s event_type and label of event '
                           f'{record.field("event_id") or event.event_id} to take the catalog\'s)')
  return label, table_type or catalog_type or ('earthquake' if label == 0 else 'non-tectonic')


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
