"""QuakeML catalogs (event type, origin, picks) and StationXML coordinates, via ObsPy."""

from __future__ import annotations

import dataclasses
import re

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


def _normalise_id(text: str) -> str:
  return re.sub(r'[^0-9a-z]', '', text.lower())


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
               tolerance_s: float = 2.0) -> CatalogEvent:
  """The catalog event of a record.

  Matched, in order, by id (the id may be a suffix of the resource id, ignoring
  punctuation), by origin within ``tolerance_s`` of ``origin_time``, or, for files
  without any event information, as the only event whose origin lies in ``span``
  (the record's start and end).

  Raises:
    RecordRejected: when no event matches, or several origins fall in ``span``.
  """
  if event_id:
    wanted = _normalise_id(event_id)
    for event in events:
      if _normalise_id(event.event_id).endswith(wanted):
        return event
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
