"""Pre-event noise: the segment kept per record, and whitening a window by it.

A record that starts before its event carries its own station's noise, shaped by
the same instrument response and site as the signal. Referencing the signal to that
noise (per band, or by whitening the whole spectrum) removes most of what identifies
the recording and keeps what identifies the source.

How the noise is cut and scaled (``PreprocessConfig.noise_s > 0``):
  - from the same band-passed, resampled record as the window, ``noise_s`` long and
    ending ``noise_gap_s`` before the earlier of the origin time and the P onset;
    with a band-pass it starts after the record's tapered edge (``bandpass_record``);
  - polynomial-detrended as the window is (its own fit), then divided by the window's
    standard deviation, so a signal-to-noise power ratio computed from the prepared
    arrays is the ratio in the record;
  - with ``normalization='noise_whiten'`` window and noise go through the same
    whitening filter (``whiten``) before that scaling.

A record with less noise than ``noise_s`` is rejected with the seconds it has, or,
with ``noise_fallback='shorter'``, keeps what it has when that is at least
``MIN_NOISE_S``: mirrored at its start to the full length (so spectra and band
powers need no length), the manifest's ``noise_s`` column giving the real seconds.
"""

from __future__ import annotations

import math

import numpy as np
import obspy
# SciPy is imported where used: a worker preparing records that are not whitened is ready sooner.

from ganet_jax.data import preprocess
from ganet_jax.data.preprocess import PreprocessConfig
from ganet_jax.errors import RecordRejected

MIN_NOISE_S = 10.0  # shorter noise gives band powers at 1-2 Hz from too few cycles to trust
WELCH_SEGMENT_S = 4.0  # 0.25 Hz resolution, well below the smoothing width
SMOOTHING_HZ = 2.0  # the whitening filter is smooth, so its impulse response stays within about 0.5 s
FLOOR_FRACTION = 0.01  # of the noise spectrum's median in the reference band
REFERENCE_BAND = (1.0, 20.0)  # the band discrimination relies on, where no band-pass says otherwise


def edge_s(config: PreprocessConfig) -> float:
  """Seconds at the record's start that the band-pass taper changes (0 without a band-pass)."""
  return 2.0 / config.bandpass[0] if config.bandpass else 0.0


def noise_slice(starttime: obspy.UTCDateTime, n_samples: int, origin: obspy.UTCDateTime,
                p_onset: obspy.UTCDateTime, config: PreprocessConfig) -> slice:
  """The samples of a record (starting at ``starttime``) that hold its pre-event noise.

  Args:
    starttime: time of the record's first sample.
    n_samples: the record's length in samples at ``config.sampling_rate``.
    origin: the event's origin time.
    p_onset: the P onset.
    config: noise_s, noise_gap_s, noise_fallback and the rate.

  Returns:
    A slice of ``config.noise_samples`` samples, or fewer under the 'shorter' fallback.

  Raises:
    RecordRejected: when the record holds less noise than ``noise_s`` (or, under the
      fallback, than ``MIN_NOISE_S``), saying how much it holds and before what.
  """
  rate = config.sampling_rate
  reference, what = (origin, 'the origin') if origin <= p_onset else (p_onset, 'the P onset')
  end = int(round((reference - config.noise_gap_s - starttime) * rate))
  first_usable = int(math.ceil(edge_s(config) * rate))
  stop = min(end, n_samples)  # a record ending before the noise would have no window either
  available = max(0, stop - first_usable)
  if available >= config.noise_samples:
    return slice(stop - config.noise_samples, stop)
  available_s = available / rate
  fallback = config.noise_fallback == 'shorter'
  if not fallback or available_s < min(MIN_NOISE_S, config.noise_s):
    edge = f', after its first {edge_s(config):g} s tapered by the band-pass' if edge_s(config) else ''
    hint = (f'--noise_fallback=shorter keeps at least {MIN_NOISE_S:g} s' if not fallback
            else f'--noise_fallback=shorter needs at least {min(MIN_NOISE_S, config.noise_s):g} s')
    lead = reference - starttime
    raise RecordRejected(f'only {available_s:.1f} s of pre-event noise before {what} - {config.noise_gap_s:g} s '
                         f'(the record starts {abs(lead):.1f} s {"before" if lead >= 0 else "after"} {what}{edge}); '
                         f'{config.noise_s:g} s needed (--noise_s; {hint})')
  return slice(stop - available, stop)


def cut_noise(records: dict[int, np.ndarray], starttime: obspy.UTCDateTime, origin: obspy.UTCDateTime,
              p_onset: obspy.UTCDateTime, gaps, config: PreprocessConfig) -> tuple[dict[int, np.ndarray], float]:
  """Each component's pre-event noise, cut from its (band-passed, resampled) record.

  Args:
    records: component slot -> the record's samples, all starting at ``starttime``.
    starttime: time of their first sample.
    origin: the event's origin time.
    p_onset: the P onset.
    gaps: (start, end) times of the record's gaps (interpolated, so checked here).
    config: the preprocessing settings.

  Returns:
    ({slot: noise_samples samples}, seconds of real noise); ({}, 0.0) when ``noise_s`` is 0.

  Raises:
    RecordRejected: for too little noise (``noise_slice``) or a gap longer than
      ``max_gap_s`` inside it.
  """
  if config.noise_s <= 0:
    return {}, 0.0
  n_samples = min(len(data) for data in records.values())
  span = noise_slice(starttime, n_samples, origin, p_onset, config)
  rate = config.sampling_rate
  preprocess.check_gaps(gaps, starttime + span.start / rate, starttime + span.stop / rate, config.max_gap_s,
                        where='the pre-event noise')
  kept = span.stop - span.start
  # Mirrored, not zero-padded: zeros would lower the noise's power by the missing fraction.
  segments = {slot: np.pad(np.asarray(data[span], np.float64), (config.noise_samples - kept, 0), mode='symmetric')
              for slot, data in records.items()}
  return segments, kept / rate


def noise_amplitude_spectrum(noise: np.ndarray, rate: float, *, segment_s: float = WELCH_SEGMENT_S,
                             smoothing_hz: float = SMOOTHING_HZ) -> tuple[np.ndarray, np.ndarray]:
  """Smoothed amplitude spectrum of a noise segment: Welch's average, then a running mean.

  Args:
    noise: (samples,) noise.
    rate: sampling rate in Hz.
    segment_s: Welch sub-segment length (Hann window, half overlap).
    smoothing_hz: width of the running mean over frequency.

  Returns:
    (frequencies in Hz, amplitude spectral density) on Welch's grid.
  """
  per_segment = max(2, min(len(noise), int(round(segment_s * rate))))
  import scipy.ndimage
  import scipy.signal
  freqs, psd = scipy.signal.welch(np.asarray(noise, np.float64), fs=rate, window='hann', nperseg=per_segment,
                                  noverlap=per_segment // 2, detrend='constant')
  width = max(1, int(round(smoothing_hz / (freqs[1] - freqs[0]))))
  return freqs, scipy.ndimage.uniform_filter1d(np.sqrt(psd), width, mode='nearest')


def reference_band(config: PreprocessConfig) -> tuple[float, float]:
  """The band whose median noise level sets the whitening floor: the band-pass, else 1-20 Hz (below Nyquist)."""
  if config.bandpass:
    return config.bandpass
  return REFERENCE_BAND[0], min(REFERENCE_BAND[1], 0.5 * config.sampling_rate)


def whitening_gain(freqs: np.ndarray, noise_freqs: np.ndarray, noise_asd: np.ndarray,
                   band: tuple[float, float], floor_fraction: float = FLOOR_FRACTION) -> np.ndarray:
  """1 / the noise amplitude spectrum at ``freqs``, floored at a fraction of its median in ``band``.

  The floor keeps bins where the noise is absent (outside a band-pass, above an
  original Nyquist) from being amplified without bound.

  Raises:
    RecordRejected: when the noise has no power in ``band`` (a flat noise cannot whiten).
  """
  in_band = (noise_freqs >= band[0]) & (noise_freqs <= band[1])
  median = float(np.median(noise_asd[in_band])) if in_band.any() else 0.0
  if not median > 0:
    raise RecordRejected(f'the pre-event noise has no power in {band[0]:g}-{band[1]:g} Hz: cannot whiten by it')
  asd = np.interp(freqs, noise_freqs, noise_asd)
  return 1.0 / np.maximum(asd, floor_fraction * median)


def whiten(x: np.ndarray, rate: float, noise_freqs: np.ndarray, noise_asd: np.ndarray,
           band: tuple[float, float]) -> np.ndarray:
  """``x`` with its spectrum divided by the noise amplitude spectrum (``whitening_gain``).

  The transform is zero-padded to at least twice the length, so the zero-phase filter
  does not wrap the window's end onto its start (the P onset).
  """
  import scipy.fft
  n_fft = scipy.fft.next_fast_len(2 * len(x), real=True)
  gain = whitening_gain(np.fft.rfftfreq(n_fft, 1.0 / rate), noise_freqs, noise_asd, band)
  return np.fft.irfft(np.fft.rfft(np.asarray(x, np.float64), n_fft) * gain, n_fft)[:len(x)]


def normalise_window(window_data: np.ndarray, noise_data: np.ndarray | None, config: PreprocessConfig
                     ) -> tuple[np.ndarray, np.ndarray | None, bool]:
  """One channel's window (and noise) detrended, normalised by ``config.normalization`` and scaled alike.

  Without noise this is ``preprocess.window_from_trace_data``. With noise the window
  is detrended and tail-padded as there, both go through the same whitening filter
  under 'noise_whiten', the window is standardised, and the noise is divided by the
  same standard deviation.

  Args:
    window_data: the window's samples from the P onset (possibly short of the length).
    noise_data: the channel's pre-event noise, or None.
    config: the preprocessing settings.

  Returns:
    (window, noise or None, whether the window is flat); a flat window gives zero noise.

  Raises:
    RecordRejected: when the noise cannot whiten (no power in the reference band).
  """
  if noise_data is None:
    window, flat = preprocess.window_from_trace_data(window_data, config)
    return window, None, flat
  detrended = preprocess.pad_window(preprocess.polynomial_detrend(window_data, config.detrend_degree,
                                                                  anchor=config.window_samples),
                                    config.window_samples)
  noise = preprocess.polynomial_detrend(noise_data, config.detrend_degree)
  if config.normalization == 'noise_whiten':
    rate, band = config.sampling_rate, reference_band(config)
    noise_freqs, noise_asd = noise_amplitude_spectrum(noise, rate)
    detrended = whiten(detrended, rate, noise_freqs, noise_asd, band)
    noise = whiten(noise, rate, noise_freqs, noise_asd, band)
  window, flat = preprocess.standardise(detrended)
  if flat:
    return window, np.zeros_like(noise), True
  return window, noise / np.std(detrended), False
