"""QuakeML catalogs (event type, origin, picks) and StationXML coordinates, via ObsPy."""

from __future__ import annotations

import dataclasses

import obspy

from ganet_jax.errors import RecordRejected


@dataclasses.dataclass(frozen=True)
class CatalogEvent:
  """What the preparation takes from one QuakeML event."""
  event_id: str
  event_type: str
  origin_time: obspy.UTCDateTime
  latitude: float | None
  longitude: float | None
  p_picks: dict[str, obspy.UTCDateTime]  # 'NET.STA' -> first P pick time


def short_ids(resource_id: str) -> set[str]:
  """The forms of a catalog event id a records table may give, lower-cased.

  The whole resource id, its last path segment (``smi:local/event/2`` -> ``2``),
  its last two joined as ANSS writes event ids (``.../Event/UW/61348817`` ->
  ``uw61348817``) and the value of an ``eventid``/``evid`` query parameter
  (USGS-style ids). Only whole segments count: ``2`` never matches ``.../event/12``.
  """
  text = resource_id.strip().lower()
  path, _, query = text.partition('?')
  segments = path.rstrip('/').split('/')
  forms = {text, segments[-1], ''.join(segments[-2:])}
  for parameter in query.split('&'):
    name, _, value = parameter.partition('=')
    if name in ('eventid', 'evid') and value:
      forms.add(value)
  return forms - {''}


def read_catalog(path: str) -> list[CatalogEvent]:
  """The events of a QuakeML file (any format ``obspy.read_events`` knows)."""
  events = []
  for event in obspy.read_events(path):
    origin = event.preferred_origin() or (event.origins[0] if event.origins else None)
    if origin is None:
      continue
    picks = {}
    for pick in event.picks:
      phase = (pick.phase_hint or '').upper()
      if phase.startswith('P') and pick.waveform_id is not None:
        key = f'{pick.waveform_id.network_code}.{pick.waveform_id.station_code}'
        picks[key] = min(picks.get(key, pick.time), pick.time)
    events.append(CatalogEvent(event_id=str(event.resource_id), event_type=str(event.event_type or ''),
                               origin_time=origin.time, latitude=origin.latitude,
                               longitude=origin.longitude, p_picks=picks))
  return events


def find_event(events: list[CatalogEvent], event_id: str = '', origin_time: obspy.UTCDateTime | None = None,
               span: tuple[obspy.UTCDateTime, obspy.UTCDateTime] | None = None,
               tolerance_s: float = 2.0, id_tolerance_s: float = 10.0) -> CatalogEvent:
  """The catalog event of a record.

  Matched, in order, by id (the table's id equal to the resource id or to one of
  its ``short_ids``), by origin within ``tolerance_s`` of ``origin_time``, or, for
  files without any event information, as the only event whose origin lies in
  ``span`` (the record's start and end). An event found by id must agree with the
  record's time: its origin within ``id_tolerance_s`` of ``origin_time`` (the
  table's or the SAC ``o`` header), else inside ``span``, so a mistyped or reused
  id cannot hand the record another event's type.

  Raises:
    RecordRejected: when no event matches, an id matches several events, an
      id-matched event's origin disagrees with the record, or several origins
      fall in ``span``.
  """
  if event_id:
    by_id = [e for e in events if event_id.strip().lower() in short_ids(e.event_id)]
    if len(by_id) > 1:
      raise RecordRejected(f'event id {event_id!r} matches {len(by_id)} catalog events '
                           f'({", ".join(e.event_id for e in by_id)}); give the full resource id')
    if by_id:
      check_origin_agrees(by_id[0], event_id, origin_time, span, id_tolerance_s)
      return by_id[0]
  if origin_time is not None:
    close = [e for e in events if abs(e.origin_time - origin_time) <= tolerance_s]
    if close:
      return min(close, key=lambda e: abs(e.origin_time - origin_time))
  if not event_id and origin_time is None and span is not None:
    inside = [e for e in events if span[0] <= e.origin_time <= span[1]]
    if len(inside) == 1:
      return inside[0]
    if inside:
      raise RecordRejected(f'{len(inside)} catalog events have origins inside the record '
                           f'({span[0]} - {span[1]}); give the event in a records table')
    raise RecordRejected(f'no catalog event has its origin inside the record ({span[0]} - {span[1]})')
  raise RecordRejected(f'event {event_id or "?"} (origin {origin_time}) not in the catalog')


def check_origin_agrees(event: CatalogEvent, event_id: str, origin_time: obspy.UTCDateTime | None,
                        span: tuple[obspy.UTCDateTime, obspy.UTCDateTime] | None, tolerance_s: float) -> None:
  """Rejects an id-matched catalog event whose origin does not fit the record's time.

  Raises:
    RecordRejected: naming the table's id, the catalog event and both times.
  """
  if origin_time is not None:
    if abs(event.origin_time - origin_time) > tolerance_s:
      raise RecordRejected(f'event id {event_id!r} is catalog event {event.event_id} with origin '
                           f'{event.origin_time}, but the record gives origin {origin_time} '
                           f'({event.origin_time - origin_time:+.1f} s, more than {tolerance_s:g} s)')
  elif span is not None and not span[0] - tolerance_s <= event.origin_time <= span[1] + tolerance_s:
    raise RecordRejected(f'event id {event_id!r} is catalog event {event.event_id} with origin '
                         f'{event.origin_time}, outside the record ({span[0]} - {span[1]})')


def station_coordinates(inventory: obspy.Inventory | None, network: str, station: str,
                        time: obspy.UTCDateTime) -> tuple[float, float] | None:
  """(latitude, longitude) of NET.STA active at ``time`` in a StationXML inventory, or None."""
  if inventory is None:
    return None
  selected = inventory.select(network=network, station=station, time=time)
  for net in selected:
    for sta in net:
      return float(sta.latitude), float(sta.longitude)
  return None
