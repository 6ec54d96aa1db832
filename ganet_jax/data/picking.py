"""P onsets: given picks (table, catalog, SAC headers) first, else an STA/LTA picker.

Each onset comes with the method that produced it, written per record in the
manifest: 'table' (records-table column), 'catalog' (QuakeML pick), 'sac:a',
'sac:t0'..'sac:t9' (SAC header relative to its reference time), 'sta_lta'.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import obspy
from obspy.signal.trigger import recursive_sta_lta

from ganet_jax.data.preprocess import RecordRejected

SAC_PICK_HEADERS = ('a',) + tuple(f't{i}' for i in range(10))
SAC_UNDEFINED = -12345.0  # SAC header value for "not set"


@dataclasses.dataclass(frozen=True)
class PickerConfig:
  """STA/LTA picker settings.

  Attributes:
    sta_s, lta_s: short- and long-term averaging windows (recursive STA/LTA).
    threshold: STA/LTA ratio whose first crossing in the search window is the onset.
    freqmin, freqmax: causal band-pass before the ratio (causal so that no filter
      precursor moves the onset early); freqmax is capped below Nyquist.
    search_after_origin_s: (start, end) of the search after the origin when the
      distance is unknown (widened by it when known); 15 s covers P at the
      ~0.3 degree, <= 40 km deep hypocentres of local networks.
    p_velocity_range_km_s: (slowest, fastest) apparent P velocities bounding the
      search when the distance is known.
  """
  sta_s: float = 0.5
  lta_s: float = 10.0
  threshold: float = 3.0
  freqmin: float = 1.0
  freqmax: float = 15.0
  search_after_origin_s: tuple[float, float] = (-1.0, 15.0)
  p_velocity_range_km_s: tuple[float, float] = (5.0, 9.0)


def sac_pick(trace: obspy.Trace, headers: tuple[str, ...] = SAC_PICK_HEADERS
             ) -> tuple[obspy.UTCDateTime, str] | None:
  """The first defined SAC pick among ``headers`` as an absolute time, with 'sac:<name>'."""
  sac = trace.stats.get('sac')
  if not sac:
    return None
  for name in headers:
    value = sac.get(name)
    if value is not None and np.isfinite(value) and float(value) != SAC_UNDEFINED:
      # SAC times are relative to the reference time; ObsPy's starttime is reference + b.
      reference = trace.stats.starttime - float(sac.get('b', 0.0))
      return reference + float(value), f'sac:{name}'
  return None


def sac_origin(trace: obspy.Trace) -> obspy.UTCDateTime | None:
  """The SAC ``o`` header as an absolute time, if set."""
  sac = trace.stats.get('sac')
  value = sac.get('o') if sac else None
  if value is None or float(value) == SAC_UNDEFINED:
    return None
  return trace.stats.starttime - float(sac.get('b', 0.0)) + float(value)


def search_window(origin: obspy.UTCDateTime, distance_km: float | None,
                  config: PickerConfig) -> tuple[obspy.UTCDateTime, obspy.UTCDateTime]:
  """Where the P onset may be: bounded by travel time when the distance is known."""
  if distance_km is None or not np.isfinite(distance_km):
    return origin + config.search_after_origin_s[0], origin + config.search_after_origin_s[1]
  slow, fast = config.p_velocity_range_km_s
  return (origin + distance_km / fast + config.search_after_origin_s[0],
          origin + distance_km / slow + config.search_after_origin_s[1])


def sta_lta_onset(trace: obspy.Trace, origin: obspy.UTCDateTime, distance_km: float | None,
                  config: PickerConfig = PickerConfig()) -> obspy.UTCDateTime:
  """First crossing of ``config.threshold`` by the recursive STA/LTA in the search window.

  The ratio runs over the whole trace so the long-term average is warmed up by the
  pre-event noise before the search window starts.

  Raises:
    RecordRejected: when the ratio never reaches the threshold in the search window
      (reason gives the window and the highest ratio seen).
  """
  rate = trace.stats.sampling_rate
  filtered = trace.copy()
  filtered.data = np.asarray(filtered.data, dtype=np.float64)
  filtered.detrend('demean')
  filtered.filter('bandpass', freqmin=config.freqmin, freqmax=min(config.freqmax, 0.45 * rate),
                  corners=4, zerophase=False)
  ratio = recursive_sta_lta(filtered.data, int(config.sta_s * rate), int(config.lta_s * rate))
  start, end = search_window(origin, distance_km, config)
  # The first lta_s of the ratio are warm-up, not signal.
  first = max(int(np.ceil((start - trace.stats.starttime) * rate)), int(config.lta_s * rate))
  last = min(int(np.floor((end - trace.stats.starttime) * rate)), len(ratio) - 1)
  if last < first:
    raise RecordRejected(f'no P onset: search window {start} - {end} not covered by the record '
                         f'after the {config.lta_s:g} s STA/LTA warm-up')
  above = np.flatnonzero(ratio[first:last + 1] >= config.threshold)
  if not len(above):
    raise RecordRejected(f'no P onset: STA/LTA peaks at {ratio[first:last + 1].max():.2f} < '
                         f'{config.threshold:g} between {start} and {end}')
  return trace.stats.starttime + (first + above[0]) / rate
