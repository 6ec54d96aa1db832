"""P onsets: given picks (table, catalog, SAC headers) first, else an STA/LTA picker.

Each onset comes with the method that produced it, written per record in the
manifest: 'table' (records-table column), 'catalog' (QuakeML pick), 'sac:a',
'sac:t0'..'sac:t9' (SAC header relative to its reference time), 'sta_lta'.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np
import obspy
from obspy.geodetics import kilometers2degrees
# scipy.signal and obspy.signal (which loads matplotlib) are imported where used: a worker preparing
# records that need no filter is ready about 1 s sooner.

from ganet_jax.data import dsp
from ganet_jax.errors import RecordRejected

SAC_PICK_HEADERS = ('a',) + tuple(f't{i}' for i in range(10))
P_PHASES = ('p', 'P', 'Pg', 'Pn', 'Pdiff')


@dataclasses.dataclass(frozen=True)
class PickerConfig:
  """STA/LTA picker settings.

  Attributes:
    sta_s, lta_s: short- and long-term averaging windows (recursive STA/LTA); the
      record must hold ``lta_s`` of data before the search window (the warm-up).
    threshold: STA/LTA ratio whose first upward crossing in the search window is the onset.
    freqmin, freqmax: causal band-pass before the ratio (causal so that no filter
      precursor moves the onset early); freqmax is capped below Nyquist.
    search_after_origin_s: (start, end) of the search after the origin when the
      distance is unknown; 15 s covers P at the ~0.3 degree, <= 40 km deep
      hypocentres of local networks. When the distance is known the same margins
      are put around the iasp91 P travel time (``p_travel_time_s``), widened by
      ``travel_time_tolerance`` of it.
    travel_time_tolerance: relative error allowed on the iasp91 travel time.

  Raises:
    ValueError: from the constructor, for a setting out of range (the threshold
      named as ``--sta_lta_threshold``).
  """
  sta_s: float = 0.5
  lta_s: float = 10.0
  threshold: float = 3.0
  freqmin: float = 1.0
  freqmax: float = 15.0
  search_after_origin_s: tuple[float, float] = (-1.0, 15.0)
  travel_time_tolerance: float = 0.1

  def __post_init__(self):
    if not (math.isfinite(self.threshold) and self.threshold > 1):
      raise ValueError(f'--sta_lta_threshold={self.threshold}: must be a number > 1 (an STA/LTA ratio of 1 '
                       f'is noise, so a lower threshold triggers before any signal)')
    if not (0 < self.sta_s < self.lta_s and math.isfinite(self.lta_s)):
      raise ValueError(f'STA/LTA windows sta_s={self.sta_s}, lta_s={self.lta_s}: need 0 < sta_s < lta_s')
    if not 0 < self.freqmin < self.freqmax:
      raise ValueError(f'picker band {self.freqmin}-{self.freqmax} Hz: needs 0 < freqmin < freqmax')
    start, end = self.search_after_origin_s
    if not start < end:
      raise ValueError(f'search_after_origin_s={self.search_after_origin_s}: start must precede end')


@functools.lru_cache(maxsize=1)
def _iasp91() -> 'obspy.taup.TauPyModel':
  from obspy.taup import TauPyModel
  return TauPyModel('iasp91')


@functools.lru_cache(maxsize=4096)
def _first_p_s(distance_km: float, depth_km: float) -> float:
  arrivals = _iasp91().get_travel_times(source_depth_in_km=depth_km, distance_in_degree=kilometers2degrees(distance_km),
                                        phase_list=P_PHASES)
  if not arrivals:
    raise ValueError(f'no P arrival in iasp91 at {distance_km:g} km')
  return min(a.time for a in arrivals)


def p_travel_time_s(distance_km: float, depth_km: float | None = None) -> float:
  """First P travel time (s) in iasp91 (ObsPy TauP) at an epicentral distance.

  Args:
    distance_km: epicentral distance.
    depth_km: source depth; unknown (None) is taken as 0, the fastest case for local
      distances only by a fraction of a second.
  """
  depth = 0.0 if depth_km is None or not math.isfinite(depth_km) else min(max(depth_km, 0.0), 700.0)
  return _first_p_s(round(float(distance_km), 1), round(depth, 1))


def sac_pick(trace: obspy.Trace, headers: tuple[str, ...] = SAC_PICK_HEADERS
             ) -> tuple[obspy.UTCDateTime, str] | None:
  """The first SAC pick set among ``headers`` as an absolute time, with 'sac:<name>'.

  ObsPy leaves unset SAC headers (-12345) out of ``stats.sac``, so a present key is a value.
  """
  sac = trace.stats.get('sac')
  if not sac:
    return None
  for name in headers:
    value = sac.get(name)
    if value is not None and np.isfinite(value):
      # SAC times are relative to the reference time; ObsPy's starttime is reference + b.
      reference = trace.stats.starttime - float(sac.get('b', 0.0))
      return reference + float(value), f'sac:{name}'
  return None


def sac_origin(trace: obspy.Trace) -> obspy.UTCDateTime | None:
  """The SAC ``o`` header as an absolute time, if set."""
  sac = trace.stats.get('sac')
  value = sac.get('o') if sac else None
  if value is None:
    return None
  return trace.stats.starttime - float(sac.get('b', 0.0)) + float(value)


def search_window(origin: obspy.UTCDateTime, distance_km: float | None, config: PickerConfig,
                  depth_km: float | None = None) -> tuple[obspy.UTCDateTime, obspy.UTCDateTime]:
  """Where the P onset may be: around the iasp91 P travel time when the distance is known."""
  early, late = config.search_after_origin_s
  if distance_km is None or not np.isfinite(distance_km):
    return origin + early, origin + late
  travel = p_travel_time_s(distance_km, depth_km)
  tolerance = config.travel_time_tolerance * travel
  return origin + travel - tolerance + early, origin + travel + tolerance + late


def sta_lta_onset(trace: obspy.Trace, origin: obspy.UTCDateTime, distance_km: float | None,
                  config: PickerConfig = PickerConfig(), depth_km: float | None = None
                  ) -> tuple[obspy.UTCDateTime, float]:
  """First upward crossing of ``config.threshold`` by the recursive STA/LTA in the search window.

  The ratio runs over the whole trace, so the long-term average is warmed up by the
  pre-event noise; a record holding less than ``lta_s`` before the search window
  has no trustworthy ratio there. A ratio already above the threshold where the
  search starts crossed it before: that edge is not an onset.

  Returns:
    (onset, quality): quality is the ratio's peak in the ``lta_s`` after the onset.

  Raises:
    RecordRejected: with the reason no onset was found (warm-up not covered, ratio
      above the threshold from the start of the search, or never reaching it).
  """
  rate = trace.stats.sampling_rate
  start, end = search_window(origin, distance_km, config, depth_km)
  before = start - trace.stats.starttime
  if before < config.lta_s:
    raise RecordRejected(f'no P onset: the record starts {before:.1f} s before the P search window '
                         f'({start} - {end}); the STA/LTA needs {config.lta_s:g} s of pre-event data to warm up')
  # ObsPy's demean and band-pass, on the samples (``dsp``): the trace itself stays as it is.
  import scipy.signal
  from obspy.signal.trigger import recursive_sta_lta
  filtered = scipy.signal.detrend(np.asarray(trace.data, dtype=np.float64), type='constant')
  filtered = dsp.bandpass(filtered, config.freqmin, min(config.freqmax, 0.45 * rate), rate, corners=4)
  ratio = recursive_sta_lta(filtered, int(config.sta_s * rate), int(config.lta_s * rate))
  first = int(np.ceil(before * rate))
  last = min(int(np.floor((end - trace.stats.starttime) * rate)), len(ratio) - 1)
  if last <= first:
    raise RecordRejected(f'no P onset: the record ends before the P search window {start} - {end}')
  if ratio[first] >= config.threshold:
    raise RecordRejected(f'no P onset: STA/LTA already {ratio[first]:.2f} >= {config.threshold:g} where the search '
                         f'starts ({start}); the crossing before it is outside the search window')
  above = np.flatnonzero(ratio[first:last + 1] >= config.threshold)
  if not len(above):
    raise RecordRejected(f'no P onset: STA/LTA peaks at {ratio[first:last + 1].max():.2f} < '
                         f'{config.threshold:g} between {start} and {end}')
  onset = first + above[0]
  quality = float(ratio[onset:onset + int(config.lta_s * rate)].max())
  return trace.stats.starttime + onset / rate, quality
