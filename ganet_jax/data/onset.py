"""A record's P onset and how it was found: table, catalog pick, SAC header, STA/LTA, or a fallback.

The order is declared in ``ingest``'s module docstring.
"""

from __future__ import annotations

import obspy

from ganet_jax.data import catalog as catalog_lib
from ganet_jax.data import picking
from ganet_jax.data import preprocess
from ganet_jax.data.record_event import field_time, parse_float
from ganet_jax.data.records_table import InputRecord
from ganet_jax.errors import RecordRejected


def p_onset(record: InputRecord, traces: dict[int, obspy.Stream], picking_trace: obspy.Trace,
            origin: obspy.UTCDateTime, distance_km: float | None,
            event: catalog_lib.CatalogEvent | None, *, config: preprocess.PreprocessConfig,
            picker: picking.PickerConfig, p_fallback: str) -> tuple[obspy.UTCDateTime, str, str]:
  """The P onset, how it was found (``ingest``'s module docstring gives the order) and its quality.

  Args:
    record: the input record (its ``p_time`` and ``event_depth_km`` fields).
    traces: the record's traces per component slot (SAC headers are searched in slot order).
    picking_trace: the trace STA/LTA runs on.
    origin: the event's origin time.
    distance_km: the epicentral distance, when known.
    event: the record's catalog event (its picks), or None.
    config: the signal parameters (the record must cover the origin before STA/LTA runs).
    picker: the STA/LTA settings.
    p_fallback: 'travel_time' (origin plus the P travel time, or the origin) or 'none' (reject).

  Returns:
    (onset, method, quality): quality is the STA/LTA peak after an STA/LTA onset, else ''.

  Raises:
    RecordRejected: when the picker fails and ``p_fallback == 'none'``.
  """
  given = field_time(record.field('p_time'), 'P time')
  if given is not None:
    return given, 'table', ''
  trace = next(iter(traces.values()))[0]
  if event is not None:
    key = f'{trace.stats.network}.{trace.stats.station}'
    if key in event.p_picks:
      return event.p_picks[key], 'catalog', ''
  for slot in sorted(traces):
    found = picking.sac_pick(traces[slot][0])
    if found:
      return (*found, '')
  preprocess.check_covers_origin(picking_trace.stats.starttime, picking_trace.stats.npts,
                                 picking_trace.stats.sampling_rate, origin, config)
  depth_km = parse_float(record.field('event_depth_km'))
  try:
    onset, peak = picking.sta_lta_onset(picking_trace, origin, distance_km, picker, depth_km)
    return onset, 'sta_lta', f'{peak:.2f}'
  except RecordRejected as error:
    if p_fallback == 'none':
      raise
    if distance_km is not None:
      return origin + picking.p_travel_time_s(distance_km, depth_km), f'fallback:travel_time ({error})', ''
    return origin, f'fallback:origin ({error})', ''
