"""The paper's preprocessing (Section III-A), one small function per step.

Steps, in the order ``ingest.prepare_record`` applies them:

  1. epicentral distance <= ``max_distance_km`` where coordinates are known;
  2. channels mapped to Z, N, E (1 -> N, 2 -> E); other codes are unknown;
  3. resampling to ``sampling_rate`` with an anti-alias low-pass when going down;
     rates below ``min_sampling_rate`` are rejected, never upsampled;
  4. gap policy: gaps are filled by linear interpolation (ObsPy's merge) so filters and
     pickers can run; a gap longer than ``max_gap_s`` inside the window rejects the record,
     shorter ones (a few samples of timing jitter) stay interpolated;
  5. optional band-pass (``bandpass``, off by default as in the paper): zero-phase
     Butterworth over the whole record, so its edge ringing stays outside the window;
  6. a ``window_s`` window from the P onset, exactly ``window_s * sampling_rate``
     samples; a record that ends at most ``max_pad_s`` early is zero-padded at the
     tail after the detrend (zero is then the mean) and the padding recorded;
  7. degree-``detrend_degree`` polynomial detrend (time rescaled to [-1, 1], float64);
  8. per-channel standardisation over the whole window (zero mean, unit std; a
     flat channel stays zeros);
  9. channel dropout: missing components are zero-filled and flagged.

With ``noise_s > 0`` a pre-event noise segment is cut from the same band-passed,
resampled record and scaled like its window, and ``normalization='noise_whiten'``
whitens the window by that noise's smoothed spectrum before step 8 (``noise``).

Every rejection is a ``RecordRejected`` whose message is the reason written to the
rejection report.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import numpy as np
import obspy
# scipy.signal and obspy.signal (which loads matplotlib) are imported where used: a worker preparing
# records that need no filter is ready about 1 s sooner.
from obspy.geodetics import gps2dist_azimuth

from ganet_jax import conventions
from ganet_jax.data import dsp
from ganet_jax.errors import RecordRejected


@dataclasses.dataclass(frozen=True)
class PreprocessConfig:
  """Preprocessing parameters; defaults are the paper's (III-A) and the declared policies.

  Attributes:
    window_s: window length after the P onset (paper: 100 s).
    sampling_rate: output rate in Hz (paper: 100 Hz).
    detrend_degree: polynomial detrend degree (paper: 10).
    max_distance_km: epicentral distance limit (paper: 200 km); None disables it.
    min_sampling_rate: lowest input rate accepted; lower rates are rejected because
      upsampling cannot recreate the 1-20 Hz band the discrimination relies on.
    max_gap_s: longest gap inside the window that is interpolated instead of rejected.
    max_pad_s: longest tail shortfall of the window that is zero-padded instead of
      rejected; 15 s lets records cut at origin + 100 s (as in pnw) keep a P onset
      up to 15 s after the origin.
    bandpass: (freqmin, freqmax) in Hz of a zero-phase 4-corner Butterworth band-pass
      (``bandpass_record``), or None (the paper's protocol: no filter).
    noise_s: seconds of pre-event noise kept per record (``noise.cut_noise``); 0 keeps none.
    noise_gap_s: the noise ends this many seconds before the earlier of the origin time
      and the P onset, so no early arrival leaks into it.
    noise_fallback: a record with less noise than ``noise_s`` before that point is
      rejected ('reject') or keeps what it has when at least ``noise.MIN_NOISE_S``
      ('shorter', mirrored to full length; the manifest's noise_s says what is real).
    normalization: 'standardise' (the paper: zero mean, unit std per channel) or
      'noise_whiten' (divide the window's spectrum by the smoothed amplitude spectrum of
      the record's own noise, then standardise; needs ``noise_s > 0``).

  Raises:
    ValueError: from the constructor, for a value out of range, naming it as the
      ``experiments.prepare`` flag of the same name.
  """
  window_s: float = 100.0
  sampling_rate: float = float(conventions.SAMPLING_RATE)
  detrend_degree: int = 10
  max_distance_km: float | None = 200.0
  min_sampling_rate: float = 20.0
  max_gap_s: float = 0.1
  max_pad_s: float = 15.0
  bandpass: tuple[float, float] | None = None
  noise_s: float = 0.0
  noise_gap_s: float = 5.0
  noise_fallback: str = 'reject'
  normalization: str = 'standardise'

  def __post_init__(self):
    positive = {'window_s': self.window_s, 'sampling_rate': self.sampling_rate,
                'min_sampling_rate': self.min_sampling_rate}
    if self.max_distance_km is not None:
      positive['max_distance_km'] = self.max_distance_km
    for name, value in positive.items():
      _check_range(name, value, value > 0, 'a number > 0')
    for name in ('max_gap_s', 'max_pad_s', 'noise_s', 'noise_gap_s'):
      value = getattr(self, name)
      _check_range(name, value, value >= 0, 'a number >= 0')
    degree = self.detrend_degree
    if isinstance(degree, bool) or not isinstance(degree, (int, np.integer)) or degree < 0:
      raise ValueError(f'--detrend_degree={degree}: must be an integer >= 0')
    if self.window_samples < 1:
      raise ValueError(f'--window_s={self.window_s:g} at --sampling_rate={self.sampling_rate:g}: less than one sample')
    if self.bandpass is not None:
      freqmin, freqmax = (float(f) for f in self.bandpass)
      nyquist = self.sampling_rate / 2
      if not (math.isfinite(freqmin) and math.isfinite(freqmax) and 0 < freqmin < freqmax < nyquist):
        raise ValueError(f'--bandpass={freqmin:g},{freqmax:g}: needs 0 < FREQMIN < FREQMAX < {nyquist:g} Hz '
                         f'(the Nyquist frequency of --sampling_rate={self.sampling_rate:g})')
      object.__setattr__(self, 'bandpass', (freqmin, freqmax))
    _check_choice('normalization', self.normalization, NORMALIZATIONS)
    _check_choice('noise_fallback', self.noise_fallback, NOISE_FALLBACKS)
    if self.noise_s > 0 and self.noise_samples < 2:
      raise ValueError(f'--noise_s={self.noise_s:g} at --sampling_rate={self.sampling_rate:g}: less than two samples')
    if self.normalization == 'noise_whiten' and self.noise_s <= 0:
      raise ValueError('--normalization=noise_whiten whitens by the pre-event noise: it needs --noise_s > 0 '
                       f'(got --noise_s={self.noise_s:g})')

  @property
  def window_samples(self) -> int:
    return int(round(self.window_s * self.sampling_rate))

  @property
  def noise_samples(self) -> int:
    """Samples of the kept pre-event noise segment (0 without one)."""
    return int(round(self.noise_s * self.sampling_rate))

  @property
  def bandpass_label(self) -> str:
    """The band as the manifest writes it ('1-20 Hz'), '' without one."""
    return f'{self.bandpass[0]:g}-{self.bandpass[1]:g} Hz' if self.bandpass else ''


NORMALIZATIONS = ('standardise', 'noise_whiten')
NOISE_FALLBACKS = ('reject', 'shorter')


def _check_choice(name: str, value, choices: tuple[str, ...]) -> None:
  if value not in choices:
    raise ValueError(f'--{name}={value}: must be one of {", ".join(choices)}')


def _check_range(name: str, value, ok: bool, requirement: str) -> None:
  if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not math.isfinite(value) or not ok:
    raise ValueError(f'--{name}={value}: must be {requirement}')


def distance_limit(max_distance_km: float) -> float | None:
  """The --max_distance_km flag as a limit: <= 0 disables it (None).

  Raises:
    ValueError: naming the flag, for NaN (which would otherwise disable the limit unnoticed).
  """
  if math.isnan(max_distance_km):
    raise ValueError(f'--max_distance_km={max_distance_km}: must be a number (<= 0 disables the limit)')
  return max_distance_km if max_distance_km > 0 else None


def parse_band(text: str) -> tuple[float, float] | None:
  """'FREQMIN,FREQMAX' in Hz (e.g. '1,20') to a pair; '' to None.

  Raises:
    ValueError: naming --bandpass, for text that is not two numbers.
  """
  if not text.strip():
    return None
  try:
    freqmin, freqmax = (float(part) for part in text.split(','))
  except ValueError:
    raise ValueError(f'--bandpass={text}: give FREQMIN,FREQMAX in Hz, e.g. --bandpass=1,20') from None
  return freqmin, freqmax


def epicentral_distance_km(event_latitude: float, event_longitude: float,
                           station_latitude: float, station_longitude: float) -> float:
  """Great-circle distance on the WGS84 ellipsoid (ObsPy geodetics), in km."""
  metres, _, _ = gps2dist_azimuth(event_latitude, event_longitude, station_latitude, station_longitude)
  return metres / 1000.0


def check_distance(distance_km: float | None, max_distance_km: float | None) -> None:
  """Rejects a record beyond the limit; an unknown distance (None/NaN) passes.

  Raises:
    RecordRejected: when ``distance_km > max_distance_km``.
  """
  if max_distance_km is None or distance_km is None or not np.isfinite(distance_km):
    return
  if distance_km > max_distance_km:
    raise RecordRejected(f'epicentral distance {distance_km:.0f} km > {max_distance_km:g} km '
                         f'(--max_distance_km)')


def component_slot(channel: str) -> int | None:
  """Index in Z, N, E of a SEED channel code's component letter (1 -> N, 2 -> E), else None."""
  letter = channel[-1:].upper()
  return {'Z': 0, 'N': 1, '1': 1, 'E': 2, '2': 2}.get(letter)


def reject_non_finite(trace: obspy.Trace) -> None:
  """Rejects NaN or inf samples (masked gap samples are not data and are skipped).

  Raises:
    RecordRejected: naming the trace and how many samples are bad.
  """
  data = np.ma.getdata(trace.data)
  valid = np.asarray(data[~np.ma.getmaskarray(trace.data)], np.float64)
  bad = int(np.sum(~np.isfinite(valid)))
  if bad:
    raise RecordRejected(f'{trace.id}: {bad} NaN/inf samples')
  # Finite but so large that a sum of squares (detrend, standardisation) overflows.
  largest = float(np.abs(valid).max(initial=0.0))
  if largest > overflow_limit(len(valid)):
    raise RecordRejected(f'{trace.id}: samples up to {largest:.3g} overflow float64 arithmetic '
                         f'(non-finite after scaling)')


def overflow_limit(n_samples: int) -> float:
  """Largest |sample| whose squares summed over ``n_samples`` (with 10x filter gain) stay finite."""
  return float(np.sqrt(np.finfo(np.float64).max / max(n_samples, 1))) / 10


def merge_segments(traces: obspy.Stream) -> tuple[obspy.Trace, list[tuple[obspy.UTCDateTime, obspy.UTCDateTime]]]:
  """The segments of one channel as one float64 trace, gaps linearly interpolated, and the gaps.

  ObsPy does both: ``Stream.get_gaps`` lists the gaps (overlaps, reported with a
  negative duration, are not gaps) and ``merge(fill_value='interpolate')`` fills them,
  so filters and pickers can run; ``check_gaps`` then decides which gaps matter.

  Returns:
    (merged trace, [(first missing sample time, first sample after the gap)]).
  """
  # New traces of the samples and timing only: a deep copy of every header costs more than the merge.
  stream = obspy.Stream([obspy.Trace(np.array(trace.data, np.float64), header={
      key: trace.stats[key] for key in ('network', 'station', 'location', 'channel', 'starttime',
                                        'sampling_rate', 'calib')}) for trace in traces])
  gaps = [(start + stream[0].stats.delta, end) for *_, start, end, duration, _ in stream.get_gaps() if duration > 0]
  return stream.merge(method=1, fill_value='interpolate')[0], gaps


def resample(trace: obspy.Trace, sampling_rate: float, min_sampling_rate: float) -> obspy.Trace:
  """``trace`` at ``sampling_rate`` Hz, anti-aliased when the rate goes down.

  Integer factors down decimate as ObsPy's ``decimate`` does (Chebyshev II low-pass
  first); other downward ratios low-pass at 0.4 x the new rate (zero phase) and then
  Lanczos-interpolate; upward ratios only Lanczos-interpolate (no new band appears).
  The steps are ObsPy's, run on arrays (``dsp``); the result is a new trace with the
  input's SEED id.

  Raises:
    RecordRejected: when the input rate is below ``min_sampling_rate``.
  """
  rate = float(trace.stats.sampling_rate)
  if rate < min_sampling_rate:
    raise RecordRejected(f'{trace.id}: sampling rate {rate:g} Hz < {min_sampling_rate:g} Hz '
                         f'(--min_sampling_rate); not upsampled to {sampling_rate:g} Hz')
  data = np.array(trace.data, dtype=np.float64)
  starttime, rate_out = trace.stats.starttime, sampling_rate
  factor = rate / sampling_rate
  stages = decimation_stages(int(round(factor))) if factor > 1 and _close(factor, round(factor)) else None
  if _close(rate, sampling_rate):
    pass
  elif stages:
    for stage in stages:  # ObsPy's anti-alias filter is stable up to a factor of 16 per stage
      data = dsp.decimate(data, rate, stage)
      rate /= stage
  else:
    if factor > 1:
      data = dsp.lowpass(data, 0.4 * sampling_rate, rate, corners=8, zerophase=True)
    # Trace.interpolate's span and start: float timestamps, as ObsPy computes them.
    start, end = trace.stats.starttime.timestamp, trace.stats.endtime.timestamp
    n_samples = int(math.floor((end - start) / (1.0 / sampling_rate))) + 1
    data = dsp.lanczos(data, trace.stats.delta, 1.0 / sampling_rate, n_samples, a=12)
    starttime, rate_out = obspy.UTCDateTime(start), 1.0 / (1.0 / sampling_rate)  # ObsPy sets the delta
  stats = trace.stats
  return obspy.Trace(data, header={'network': stats.network, 'station': stats.station, 'location': stats.location,
                                   'channel': stats.channel, 'starttime': starttime, 'sampling_rate': rate_out})


def _close(a: float, b: float) -> bool:
  """``np.isclose(a, b)`` for two floats, without its array machinery."""
  return abs(a - b) <= 1e-8 + 1e-5 * abs(b)


def at_output_rate(rate: float, config: PreprocessConfig) -> bool:
  """Whether samples at ``rate`` Hz are kept as they are (``resample_samples`` only converts them)."""
  return rate >= config.min_sampling_rate and _close(rate, config.sampling_rate)


def resample_samples(samples: np.ndarray, rate: float, sampling_rate: float, min_sampling_rate: float
                     ) -> np.ndarray:
  """``samples`` (at ``rate`` Hz) at ``sampling_rate`` Hz as float64, as ``resample`` gives them.

  At the output rate already (the common case in published sets) no Trace is made.

  Raises:
    RecordRejected: when ``rate`` is below ``min_sampling_rate``.
  """
  if rate >= min_sampling_rate and _close(rate, sampling_rate):
    return np.asarray(samples, np.float64)
  trace = obspy.Trace(np.asarray(samples, np.float64), header={'sampling_rate': rate})
  return resample(trace, sampling_rate, min_sampling_rate).data


def bandpass_record(data: np.ndarray, sampling_rate: float, config: PreprocessConfig) -> np.ndarray:
  """The whole record band-passed by ``config.bandpass`` (unchanged without one).

  Where in the chain, and why: after resampling and gap filling, before the window
  is cut and before its polynomial detrend and standardisation. A zero-phase filter
  rings at both ends of what it is given; filtering the cut window would put that
  ringing at the P onset, the window's first and most telling seconds, while the
  whole record keeps it in the pre-event noise. The record gets a linear detrend
  and a taper of at most two periods of ``freqmin`` first, so its own ends (not the
  window's) absorb the transient; the window's detrend and standardisation then run
  on the filtered samples, as they do on unfiltered ones.
  """
  if config.bandpass is None:
    return data
  freqmin, freqmax = config.bandpass
  import scipy.signal
  trace = obspy.Trace(scipy.signal.detrend(np.asarray(data, np.float64), type='linear'),
                      header={'sampling_rate': sampling_rate})
  trace.taper(max_percentage=0.05, max_length=2.0 / freqmin)
  return dsp.bandpass(trace.data, freqmin, freqmax, sampling_rate, corners=4, zerophase=True)


def decimation_stages(factor: int, largest: int = 16) -> list[int] | None:
  """Factors <= ``largest`` whose product is ``factor`` (largest first), or None when a prime
  factor exceeds ``largest`` (e.g. 17): such ratios low-pass and interpolate instead."""
  stages = []
  for stage in range(largest, 1, -1):
    while factor % stage == 0:
      stages.append(stage)
      factor //= stage
  return stages if factor == 1 else None


def check_gaps(gaps, window_start: obspy.UTCDateTime, window_end: obspy.UTCDateTime,
               max_gap_s: float, *, where: str = 'the window') -> float:
  """Seconds of gap inside the window (or another span, named by ``where``); rejects a gap
  longer than ``max_gap_s`` there.

  Raises:
    RecordRejected: naming where the gap is and how long it is.
  """
  inside = 0.0
  for start, end in gaps:
    overlap = min(end, window_end) - max(start, window_start)
    if overlap <= 0:
      continue
    if overlap > max_gap_s:
      raise RecordRejected(f'gap of {overlap:.2f} s at {start} inside {where} '
                           f'(> {max_gap_s:g} s, --max_gap_s)')
    inside += overlap
  return inside


def check_covers_origin(starttime: obspy.UTCDateTime, n_samples: int, sampling_rate: float,
                        origin: obspy.UTCDateTime, config: PreprocessConfig) -> None:
  """Rejects a record too short to hold a window even if P arrived at the origin time.

  Used before searching for an onset: a truncated record would otherwise fail
  later with a picker or window reason it does not really have.

  Raises:
    RecordRejected: giving the span the record holds relative to the origin.
  """
  end = starttime + n_samples / sampling_rate
  held = end - max(starttime, origin)
  if held < config.window_s - config.max_pad_s:
    raise RecordRejected(f'record too short: it holds {max(held, 0.0):.1f} s from the origin time on '
                         f'(origin{starttime - origin:+.1f} s to origin{end - origin:+.1f} s); the window needs '
                         f'{config.window_s:g} s after the P onset (zero-padding allowed up to '
                         f'{config.max_pad_s:g} s, --max_pad_s)')


def drop_short_components(traces: dict[int, obspy.Trace], p_onset: obspy.UTCDateTime, config: PreprocessConfig,
                          *, keep: int) -> tuple[dict[int, obspy.Trace], list[str]]:
  """The components that can hold the window from ``p_onset``, and a reason for each one left out.

  A component that starts after the onset or ends early would otherwise cut every
  component short; it is dropped (zero-filled, 'channel dropout') as a missing
  component is. The ``keep`` component (the one the onset was picked on) is never
  dropped: when it cannot hold the window, the record is rejected by ``cut_window``.
  """
  kept, reasons = {}, []
  for slot, trace in traces.items():
    try:
      if slot != keep:
        cut_window(trace.data, trace.stats.starttime, trace.stats.sampling_rate, p_onset, config)
    except RecordRejected as error:
      reasons.append(f'{trace.id}: {error}')
    else:
      kept[slot] = trace
  return kept, reasons


def cut_window(data: np.ndarray, starttime: obspy.UTCDateTime, sampling_rate: float,
               p_onset: obspy.UTCDateTime, config: PreprocessConfig) -> np.ndarray:
  """The samples from the P onset, at most ``config.window_samples`` of them.

  Slicing (not ``Trace.trim``, which keeps both end points) gives exactly the
  window length when the record is long enough; a shorter result is returned
  for ``pad_window`` when the shortfall is within ``config.max_pad_s``.

  Raises:
    RecordRejected: when the P onset is outside the record or the record ends
      more than ``max_pad_s`` before the window does.
  """
  first, stop = window_bounds(len(data), starttime, sampling_rate, p_onset, config)
  return data[first:stop]


def window_bounds(n_samples: int, starttime: obspy.UTCDateTime, sampling_rate: float,
                  p_onset: obspy.UTCDateTime, config: PreprocessConfig) -> tuple[int, int]:
  """``(first, stop)``: the samples ``cut_window`` keeps of a record of ``n_samples``.

  Raises:
    RecordRejected: as ``cut_window``.
  """
  first = int(round((p_onset - starttime) * sampling_rate))
  if first < 0 or first >= n_samples:
    raise RecordRejected(f'P onset {p_onset} outside the record ({starttime} + {n_samples / sampling_rate:.1f} s)')
  stop = min(first + config.window_samples, n_samples)
  missing_s = (config.window_samples - (stop - first)) / sampling_rate
  if missing_s > config.max_pad_s:
    raise RecordRejected(f'record ends {(stop - first) / sampling_rate:.1f} s after the P onset; the window '
                         f'needs {config.window_s:g} s (zero-padding allowed up to {config.max_pad_s:g} s, '
                         f'--max_pad_s)')
  return first, stop


def polynomial_detrend(x: np.ndarray, degree: int, *, anchor: int | None = None) -> np.ndarray:
  """``x`` minus its least-squares polynomial of ``degree`` along the last axis, fitted in float64.

  The time axis is rescaled to [-1, 1] (raw sample indices would overflow) and the
  fit projects on orthonormal polynomials there (``dsp.polynomial_fit``: bases made
  once per length), so it is two matrix products; the rows of a 2-D array are fitted
  each on its own. ``anchor`` (the window's length) lets shorter rows share the bases
  of a few lengths near it instead of one per length.
  """
  x = np.asarray(x, dtype=np.float64)
  n = x.shape[-1]
  if n <= degree:
    return x - x.mean(axis=-1, keepdims=True) if n else x
  return x - dsp.polynomial_fit(x, degree, anchor)


def standardise(x: np.ndarray) -> tuple[np.ndarray, bool]:
  """(zero-mean unit-std copy, False), or (zeros, True) for a flat (dead) channel."""
  out, flat = standardise_rows(np.asarray(x, dtype=np.float64)[None])
  return out[0], bool(flat[0])


def standardise_rows(x: np.ndarray, out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
  """``standardise`` of each row of a (channels, samples) array: (rows, flat mask).

  Args:
    x: the rows.
    out: where to write the rows (same shape, any float type, e.g. a float32 window's
      columns): the float64 quotients are rounded to its type as an assignment would.
      None: a new float64 array.

  Raises:
    RecordRejected: when a row's standard deviation is not finite (overflow or NaN:
      not a flat channel, and not to be called one).
  """
  x = np.asarray(x, dtype=np.float64)
  n = x.shape[-1]
  if not n:
    if out is None:
      return x.copy(), np.ones(x.shape[:-1], bool)
    out[...] = x
    return out, np.ones(x.shape[:-1], bool)
  # NumPy's mean and std arithmetic (the same bits as x.mean() and centred.std() per row),
  # without its argument handling, which costs more than the sums on a window.
  mean = np.add.reduce(x, axis=-1, keepdims=True) / n
  centred = x - mean
  residual_mean = np.add.reduce(centred, axis=-1, keepdims=True) / n
  deviations = centred - residual_mean
  std = np.sqrt(np.add.reduce(np.square(deviations, out=deviations), axis=-1) / n)
  if not np.isfinite(std).all():
    raise RecordRejected(f'non-finite after scaling (largest |sample| {np.nanmax(np.abs(x), initial=0.0):.3g})')
  flat = _flat_rows(x, std, np.abs(mean[..., 0]) + np.abs(residual_mean[..., 0]))
  out = centred if out is None else out
  np.divide(centred, np.where(flat, 1.0, std)[..., None], out=out, casting='same_kind')
  out[flat] = 0.0
  return out, flat


def _flat_rows(x: np.ndarray, std: np.ndarray, offset: np.ndarray) -> np.ndarray:
  """Rows whose std is below ``conventions.EPSILON`` of their largest |sample| (or of 1): flat channels.

  Each |sample| is at most the row's offset from zero (its two mean corrections) plus
  ``sqrt(n) * std``; a std above EPSILON times that bound (with room for rounding)
  decides without reading the row again, which only rows near flat then need.
  """
  bound = (offset + math.sqrt(x.shape[-1]) * std) * (1 + 1e-6)
  if (std > conventions.EPSILON * np.maximum(1.0, bound)).all():
    return np.zeros(std.shape, bool)
  return std <= conventions.EPSILON * np.maximum(1.0, np.abs(x).max(axis=-1, initial=0.0))


def pad_window(x: np.ndarray, n_samples: int) -> np.ndarray:
  """``x`` zero-padded at the tail (of its last axis) to ``n_samples`` (zero is the mean of a detrended channel)."""
  out = np.zeros((*np.shape(x)[:-1], n_samples), np.result_type(x))
  out[..., :np.shape(x)[-1]] = x
  return out


def assemble_components(channels: dict[int, np.ndarray], n_samples: int) -> tuple[np.ndarray, str]:
  """(n_samples, 3) float32 in Z, N, E order and the letters present; absent slots are zeros."""
  out = np.zeros((n_samples, len(conventions.COMPONENT_ORDER)), np.float32)
  for slot, data in channels.items():
    out[:, slot] = data
  present = ''.join(conventions.COMPONENT_ORDER[slot] for slot in sorted(channels))
  return out, present


def window_from_trace_data(data: np.ndarray, config: PreprocessConfig) -> tuple[np.ndarray, bool]:
  """Detrended, tail-padded, standardised window of one channel and whether it is flat.

  The detrend fits the recorded samples only; padding comes after it (zero is the
  detrended mean) and standardisation last, so the whole window has zero mean and
  unit standard deviation.
  """
  windows, flat = windows_from_rows(np.asarray(data)[None], config)
  return windows[0], bool(flat[0])


def windows_from_rows(rows: np.ndarray, config: PreprocessConfig) -> tuple[np.ndarray, np.ndarray]:
  """``window_from_trace_data`` of each row of a (channels, samples) array, in one pass: (windows, flat mask)."""
  detrended = polynomial_detrend(rows, config.detrend_degree, anchor=config.window_samples)
  return standardise_rows(pad_window(detrended, config.window_samples))


def window_from_rows(rows: np.ndarray, slots: Sequence[int], config: PreprocessConfig) -> tuple[np.ndarray, np.ndarray]:
  """``assemble_components`` of ``windows_from_rows(rows)`` at the rows' ``slots``: (window, flat mask).

  Made without the intermediate copies: the padding's zeros are counted in the
  mean and standard deviation but never written before the float32 window, and
  the rows' sums of squares take one pass (``_scale_padded``). The samples differ
  from ``windows_from_rows``' by the rounding of those sums, about 1e-16 of a
  standardised sample: the float32 samples rarely differ at all, the padding's
  (minus the mean over the standard deviation, itself at that rounding) may.
  Which rows are flat, and every rejection, are decided exactly as there.
  """
  n_samples = config.window_samples
  detrended = polynomial_detrend(rows, config.detrend_degree, anchor=n_samples)
  detrended = detrended.copy() if detrended is rows else detrended  # _scale_padded overwrites it
  window = np.zeros((n_samples, len(conventions.COMPONENT_ORDER)), np.float32)
  step = slots[1] - slots[0] if len(slots) > 1 else 1
  if list(slots) != list(range(slots[0], slots[-1] + 1, step)):
    standardised, flat = standardise_rows(pad_window(detrended, n_samples))
    window[:, list(slots)] = standardised.T
    return window, flat
  columns = window.T[slots[0]:slots[-1] + 1:step]  # the slots' columns, one strided view
  if not _scale_padded(detrended, n_samples, columns):
    return window, standardise_rows(pad_window(detrended, n_samples), out=columns)[1]
  return window, np.zeros(len(slots), bool)


def _scale_padded(rows: np.ndarray, n_samples: int, out: np.ndarray) -> bool:
  """Writes ``standardise_rows(pad_window(rows, n_samples))`` to ``out`` when no row is near flat (``rows`` is
  overwritten then).

  The mean and variance of a row and its zero padding are its sum and sum of squares
  over ``n_samples``. After a detrend the mean is at the rounding of the row's
  scale, so the variance does not cancel, and a standard deviation far above
  ``conventions.EPSILON`` times the largest |sample| (bounded as in ``_flat_rows``)
  says no row is flat. Otherwise (a dead or near-flat row, non-finite or cancelling
  moments) nothing is written and False returned: ``standardise_rows`` decides.
  """
  mean = np.add.reduce(rows, axis=-1) / n_samples
  square_mean = (rows[..., None, :] @ rows[..., :, None])[..., 0, 0] / n_samples
  variance = square_mean - mean * mean
  if not (np.isfinite(variance).all() and (mean * mean <= 1e-6 * square_mean).all()):
    return False
  std = np.sqrt(variance)
  bound = (np.abs(mean) + math.sqrt(n_samples) * std) * (1 + 1e-6)
  if not (std > conventions.EPSILON * np.maximum(1.0, bound) * 2).all():
    return False
  n = rows.shape[-1]
  centred = np.subtract(rows, mean[..., None], out=rows)
  np.divide(centred, std[..., None], out=out[..., :n], casting='same_kind')
  out[..., n:] = (-mean / std)[..., None]
  return True
