"""A physics reference for GA-Net: logistic regression on amplitude, spectral and signal-to-noise ratios.

The discriminants seismologists used before deep learning (paper Section I):
explosions put relatively more energy into P than S and into high frequencies
(shallow, impulsive sources), collapses and earthquakes into S and, for
collapses, long periods. Without S picks the windows are fixed offsets from the
P onset, which suits local records (S-P under ~5 s within ~40 km); the window
edges are parameters for other distances.

Features are computed from the windows the network sees (any channel count; the
vertical, channel 0, is used), so the comparison is on identical inputs, at the
windows' own sampling rate; bands above its Nyquist frequency are clipped or left out.

Raw features describe the window alone. Noise-referenced ones divide each band's
power by the same band of the record's pre-event noise (``RecordSet.noise``): the
noise went through the same instrument and site, so the ratio is free of them to
first order. Their level follows magnitude and distance; their shape across bands
(``snr_shape_features``) does not.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from ganet_jax.conventions import EPSILON
from ganet_jax.data.record_array import chunk_records
from ganet_jax.data.records import RecordSet

FEATURE_NAMES = ('log_p_s_ratio_low', 'log_p_s_ratio_high', 'log_spectral_ratio_p', 'log_spectral_ratio_s',
                 'log_early_late_energy')
BANDS = ((1.0, 2.0), (2.0, 4.0), (4.0, 8.0), (8.0, 12.0), (12.0, 18.0))


@dataclasses.dataclass(frozen=True)
class Windows:
  """Seconds after the P onset: P phase [0, p_end), S phase [p_end, s_end), late coda [s_end, end)."""
  p_end: float = 2.5
  s_end: float = 15.0
  low_band: tuple[float, float] = (1.0, 5.0)
  high_band: tuple[float, float] = (8.0, 20.0)


def usable_bands(bands: tuple[tuple[float, float], ...], rate: float) -> tuple[tuple[float, float], ...]:
  """``bands`` clipped at the Nyquist frequency of ``rate``; bands wholly above it are left out.

  Raises:
    ValueError: when no band starts below the Nyquist frequency.
  """
  nyquist = rate / 2
  kept = tuple((low, min(high, nyquist)) for low, high in bands if low < nyquist)
  if not kept:
    raise ValueError(f'no band of {[f"{lo:g}-{hi:g} Hz" for lo, hi in bands]} lies below the Nyquist frequency '
                     f'{nyquist:g} Hz of windows at {rate:g} Hz')
  return kept


def _band_power(segment: np.ndarray, band: tuple[float, float], rate: float) -> np.ndarray:
  """Mean power per sample of each row of ``segment`` (n, samples) between ``band`` Hz (Hann-tapered FFT).

  Normalised by the length and the taper's energy, so segments of different lengths
  (a window and its noise) compare.
  """
  taper = np.hanning(segment.shape[-1])
  spectrum = np.abs(np.fft.rfft((segment - segment.mean(-1, keepdims=True)) * taper, axis=-1)) ** 2
  freqs = np.fft.rfftfreq(segment.shape[-1], 1.0 / rate)
  in_band = (freqs >= band[0]) & (freqs < band[1])
  return spectrum[:, in_band].sum(-1) / (segment.shape[-1] * max(np.sum(taper ** 2), EPSILON))


def ratio_features(waveforms: np.ndarray, *, rate: float, windows: Windows = Windows()) -> np.ndarray:
  """Log10 amplitude/spectral ratios of the vertical channel.

  Args:
    waveforms: (n, time, channels) windows starting at the P onset.
    rate: their sampling rate in Hz (bands are clipped at its Nyquist frequency).
    windows: phase windows and frequency bands.

  Returns:
    (n, len(FEATURE_NAMES)) float64 features: P/S power ratio in the low and
    the high band, high/low spectral ratio in the P and in the S window, and
    power of the first ``s_end`` seconds over the rest (duration).

  Raises:
    ValueError: when a band lies wholly above the Nyquist frequency.
  """
  z = np.asarray(waveforms[..., 0], dtype=np.float64)
  low_band, high_band = (usable_bands((band,), rate)[0] for band in (windows.low_band, windows.high_band))
  p_end, s_end = int(windows.p_end * rate), int(windows.s_end * rate)
  p, s, late = z[:, :p_end], z[:, p_end:s_end], z[:, s_end:]
  power = lambda seg, band: _band_power(seg, band, rate) + EPSILON
  log_ratio = lambda a, b: np.log10(a / b)
  return np.stack([
      log_ratio(power(p, low_band), power(s, low_band)),
      log_ratio(power(p, high_band), power(s, high_band)),
      log_ratio(power(p, high_band), power(p, low_band)),
      log_ratio(power(s, high_band), power(s, low_band)),
      log_ratio(np.mean(z[:, :s_end] ** 2, -1) + EPSILON, np.mean(late ** 2, -1) + EPSILON),
  ], axis=-1)


def _log_band_powers(z: np.ndarray, bands, rate: float) -> np.ndarray:
  return np.stack([np.log10(_band_power(z, band, rate) + EPSILON) for band in usable_bands(bands, rate)], axis=-1)


def _vertical_span(waveforms: np.ndarray, span_s: tuple[float, float], rate: float) -> np.ndarray:
  return np.asarray(waveforms[..., 0], dtype=np.float64)[:, int(span_s[0] * rate):int(span_s[1] * rate)]


def band_power_features(waveforms: np.ndarray, *, rate: float, bands: tuple[tuple[float, float], ...] = BANDS,
                        span_s: tuple[float, float] = (0.0, 60.0)) -> np.ndarray:
  """Log10 spectral power of the vertical in each band, relative to the mean over the bands.

  Ratios, not absolute powers: the windows are standardised, and a ratio between
  bands is what separates a shallow, impulsive blast from an earthquake of the same
  size. The bands stop below 20 Hz so records first sampled at 40-50 Hz (no energy
  above their Nyquist) are compared on the frequencies they all have.

  Args:
    waveforms: (n, time, channels) windows starting at the P onset.
    rate: their sampling rate in Hz.
    bands: (low, high) Hz bands, clipped at the Nyquist frequency (``usable_bands``).
    span_s: seconds of the window analysed (from its start).

  Returns:
    (n, number of usable bands) float64 log power ratios.
  """
  log_power = _log_band_powers(_vertical_span(waveforms, span_s, rate), bands, rate)
  return log_power - log_power.mean(-1, keepdims=True)


def band_snr_features(waveforms: np.ndarray, noise: np.ndarray, *, rate: float,
                      bands: tuple[tuple[float, float], ...] = BANDS,
                      span_s: tuple[float, float] = (0.0, 60.0)) -> np.ndarray:
  """Log10 signal-to-noise power ratio of the vertical in each band.

  Signal and noise must be scaled alike (as ``experiments.prepare`` stores them), so
  the ratio is the record's; a gain or a smooth response common to both cancels.

  Args:
    waveforms: (n, time, channels) windows starting at the P onset.
    noise: (n, noise samples, channels) their pre-event noise.
    rate: the sampling rate of both, in Hz.
    bands: (low, high) Hz bands, clipped at the Nyquist frequency.
    span_s: seconds of the window analysed (from its start).

  Returns:
    (n, number of usable bands) float64: log10 band power of the window minus that of its noise.
  """
  if len(noise) != len(waveforms):
    raise ValueError(f'{len(noise)} noise segments for {len(waveforms)} windows')
  signal = _log_band_powers(_vertical_span(waveforms, span_s, rate), bands, rate)
  return signal - _log_band_powers(np.asarray(noise[..., 0], np.float64), bands, rate)


def snr_shape_features(waveforms: np.ndarray, noise: np.ndarray, *, rate: float,
                       bands: tuple[tuple[float, float], ...] = BANDS,
                       span_s: tuple[float, float] = (0.0, 60.0)) -> np.ndarray:
  """The level-free shape of ``band_snr_features``: each band's log SNR minus their mean (ratios of SNRs).

  The overall SNR follows magnitude and distance, not the source type; its shape across
  bands does not (Args and Returns as ``band_snr_features``).
  """
  snr = band_snr_features(waveforms, noise, rate=rate, bands=bands, span_s=span_s)
  return snr - snr.mean(-1, keepdims=True)


def snr_features(waveforms: np.ndarray, noise: np.ndarray, *, rate: float,
                 bands: tuple[tuple[float, float], ...] = BANDS,
                 span_s: tuple[float, float] = (0.0, 60.0)) -> np.ndarray:
  """The overall log10 SNR of the vertical over the span of ``bands`` (one feature): the SNR-only control.

  Args and Returns as ``band_snr_features``, with one column.
  """
  whole = ((bands[0][0], max(high for _, high in bands)),)
  return band_snr_features(waveforms, noise, rate=rate, bands=whole, span_s=span_s)


# Each set is the concatenation of its functions' features.
FEATURE_SETS: dict[str, tuple[Callable[..., np.ndarray], ...]] = {
    'ratios': (ratio_features,),
    'bands': (band_power_features,),
    'bands+ratios': (band_power_features, ratio_features),
    'snr': (snr_features,),
    'snr_bands': (band_snr_features,),
    'snr_shape': (snr_shape_features,),
    'snr_shape+ratios': (snr_shape_features, ratio_features),
}
NOISE_REFERENCED = (band_snr_features, snr_shape_features, snr_features)


def highest_frequency(feature_set: str) -> float:
  """The highest frequency in Hz the named set's features read: a record must hold it to give them.

  Below it a band is clipped or left out at the record's Nyquist frequency, and the
  features (fitted on records that held it) no longer mean what they meant.
  """
  tops = {ratio_features: Windows().high_band[1]}
  return max(tops.get(function, max(high for _, high in BANDS)) for function in _functions(feature_set))


def needs_noise(feature_set: str) -> bool:
  """Whether the named set is noise-referenced (takes the records' pre-event noise)."""
  return any(function in NOISE_REFERENCED for function in _functions(feature_set))


def _functions(feature_set: str):
  if feature_set not in FEATURE_SETS:
    raise ValueError(f'unknown physics feature set {feature_set!r}; known: {", ".join(FEATURE_SETS)}')
  return FEATURE_SETS[feature_set]


def physics_features(waveforms: np.ndarray, feature_set: str = 'ratios', *, rate: float,
                     noise: np.ndarray | None = None) -> np.ndarray:
  """The features of a named set in ``FEATURE_SETS`` (chosen by cross-validation, not fixed).

  Args:
    waveforms: (n, time, channels) windows starting at the P onset.
    feature_set: a name in ``FEATURE_SETS``.
    rate: the windows' sampling rate in Hz.
    noise: (n, noise samples, channels) pre-event noise, scaled as the windows;
      needed by the noise-referenced sets.

  Returns:
    (n, features) float64.

  Raises:
    ValueError: for an unknown set, or a noise-referenced set without ``noise``.
  """
  functions = _functions(feature_set)
  if needs_noise(feature_set) and noise is None:
    raise ValueError(f'physics feature set {feature_set!r} is noise-referenced: it needs the records\' '
                     f'pre-event noise (prepare them with --noise_s > 0)')
  parts = [function(waveforms, noise, rate=rate) if function in NOISE_REFERENCED else function(waveforms, rate=rate)
           for function in functions]
  return np.concatenate(parts, axis=-1)


def record_features(records: RecordSet, feature_set: str = 'ratios') -> np.ndarray:
  """``physics_features`` of a record set, at its sampling rate and with its noise.

  The features are a record's own, so they are computed a bounded chunk of records
  at a time (``record_array.chunk_records``): a set on disk is never read whole.
  """
  step = chunk_records(records.waveforms)
  parts = []
  for first in range(0, max(len(records), 1), step):
    rows = slice(first, first + step)
    noise = None if records.noise is None else np.asarray(records.noise[rows])
    parts.append(physics_features(np.asarray(records.waveforms[rows]), feature_set, rate=records.sampling_rate,
                                  noise=noise))
  return np.concatenate(parts)


def sigmoid(z) -> np.ndarray:
  """1 / (1 + exp(-z)), in float64: the logistic function of every probability model here.

  Examples:
    >>> sigmoid([0.0, np.log(9.0)]).round(4).tolist()
    [0.5, 0.9]
  """
  return 1.0 / (1.0 + np.exp(-np.asarray(z, np.float64)))


@dataclasses.dataclass(frozen=True)
class LogisticModel:
  """Standardisation constants and weights of a fitted logistic regression."""
  mean: np.ndarray
  scale: np.ndarray
  weights: np.ndarray
  bias: float

  def probability(self, features: np.ndarray) -> np.ndarray:
    """P(label == 1) for each row of ``features``."""
    return sigmoid(((features - self.mean) / self.scale) @ self.weights + self.bias)

  def p_tectonic(self, features: np.ndarray) -> np.ndarray:
    """P(label == 0), the probability of tectonic (``conventions.TECTONIC``), for each row of ``features``.

    ``fit_logistic`` models the label-1 class, non-tectonic; this turns it round once,
    so callers never have to.

    Examples:
      >>> import numpy as np
      >>> model = LogisticModel(mean=np.zeros(1), scale=np.ones(1), weights=np.array([2.0]), bias=0.0)
      >>> features = np.array([[0.0], [1.0]])
      >>> model.probability(features).round(4).tolist(), model.p_tectonic(features).round(4).tolist()
      ([0.5, 0.8808], [0.5, 0.1192])
    """
    return 1.0 - self.probability(features)


def fit_logistic(features: np.ndarray, labels: np.ndarray, *, l2: float = 1e-2,
                 balanced: bool = True, iterations: int = 50) -> LogisticModel:
  """L2-regularised logistic regression by Newton's method (IRLS).

  Minimises ``sum_i w_i * BCE(sigmoid(x_i . b + c), y_i) + l2/2 * |b|^2`` on
  standardised features; with ``balanced`` each class carries half the weight
  (the imbalance in these data sets would otherwise buy accuracy with the
  minority class).

  Args:
    features: (n, d) training features.
    labels: (n,) 0/1 targets.
    l2: ridge strength on the weights (not the bias).
    balanced: weight samples inversely to their class frequency.
    iterations: Newton steps (converges in well under 50 for these sizes).

  Returns:
    The fitted ``LogisticModel``.
  """
  labels = np.asarray(labels, dtype=np.float64)
  if len(np.unique(labels)) < 2:
    raise ValueError('fit_logistic needs training records of both classes')
  mean, scale = features.mean(0), features.std(0) + EPSILON
  x = np.hstack([(features - mean) / scale, np.ones((len(features), 1))])
  sample_weight = np.ones_like(labels)
  if balanced:
    for value in (0.0, 1.0):
      sample_weight[labels == value] = 0.5 * len(labels) / np.sum(labels == value)
  ridge = np.eye(x.shape[1]) * l2
  ridge[-1, -1] = 0.0
  theta = np.zeros(x.shape[1])
  for _ in range(iterations):
    p = sigmoid(x @ theta)
    gradient = x.T @ (sample_weight * (p - labels)) + ridge @ theta
    hessian = (x * (sample_weight * p * (1 - p))[:, None]).T @ x + ridge
    step = np.linalg.solve(hessian, gradient)
    theta -= step
    if np.max(np.abs(step)) < 1e-10:
      break
  return LogisticModel(mean=mean, scale=scale, weights=theta[:-1], bias=float(theta[-1]))


def fit_records(train: RecordSet, feature_set: str = 'ratios') -> Callable[[RecordSet], np.ndarray]:
  """The physics baseline fitted on a record set: a function from record sets to P(tectonic).

  The rate and noise are the records' own (``record_features``).

  Raises:
    ValueError: for a noise-referenced set when ``train`` (or a set predicted later) has no noise.
  """
  fitted = fit_feature_model(train, feature_set).logistic
  return lambda records: fitted.p_tectonic(record_features(records, feature_set))


@dataclasses.dataclass(frozen=True, eq=False)
class FeatureModel:
  """A fitted physics classifier: a named feature set and the logistic regression on it.

  What a pretrained physics model ships (``to_json``): the regression models
  P(label == 1), P(non-tectonic), as ``fit_logistic`` does; ``p_tectonic`` turns it round.

  Attributes:
    feature_set: a name in ``FEATURE_SETS``.
    logistic: the fitted regression on that set's features.
    sampling_rate: the rate in Hz of the windows it was fitted on (its bands are clipped there).
  """
  feature_set: str
  logistic: LogisticModel
  sampling_rate: float

  @property
  def needs_noise(self) -> bool:
    """Whether its features are noise-referenced (it takes the records' pre-event noise)."""
    return needs_noise(self.feature_set)

  @property
  def highest_frequency(self) -> float:
    """The highest frequency in Hz its features read (``highest_frequency``)."""
    return highest_frequency(self.feature_set)

  def p_tectonic(self, waveforms: np.ndarray, noise: np.ndarray | None = None) -> np.ndarray:
    """(n,) probability of tectonic of (n, time, channels) windows at ``sampling_rate``.

    Raises:
      ValueError: a noise-referenced set without ``noise``, or features whose count
        differs from the regression's (windows at another rate lose bands).
    """
    features = physics_features(np.asarray(waveforms), self.feature_set, rate=self.sampling_rate, noise=noise)
    if features.shape[-1] != len(self.logistic.weights):
      raise ValueError(f'feature set {self.feature_set!r} gave {features.shape[-1]} features; the model was fitted '
                       f'on {len(self.logistic.weights)}')
    return self.logistic.p_tectonic(features)

  def to_json(self) -> dict:
    """The model as plain JSON values (``from_json`` reads it back)."""
    return {'feature_set': self.feature_set, 'sampling_rate': self.sampling_rate, 'predicts': 'p_non_tectonic',
            'mean': self.logistic.mean.tolist(), 'scale': self.logistic.scale.tolist(),
            'weights': self.logistic.weights.tolist(), 'bias': self.logistic.bias}

  @classmethod
  def from_json(cls, saved: dict) -> 'FeatureModel':
    """The inverse of ``to_json``.

    Raises:
      ValueError: an unknown feature set, or arrays of different lengths.
    """
    try:
      _functions(saved['feature_set'])
      logistic = LogisticModel(mean=np.asarray(saved['mean'], np.float64),
                               scale=np.asarray(saved['scale'], np.float64),
                               weights=np.asarray(saved['weights'], np.float64), bias=float(saved['bias']))
      rate = float(saved['sampling_rate'])
    except (KeyError, TypeError) as error:
      raise ValueError(f'not a physics model: {type(error).__name__}: {error}') from None
    sizes = {len(logistic.mean), len(logistic.scale), len(logistic.weights)}
    if len(sizes) != 1 or logistic.weights.ndim != 1:
      raise ValueError(f'physics model arrays of different lengths (mean, scale, weights: {sorted(sizes)})')
    return cls(saved['feature_set'], logistic, rate)


def fit_feature_model(train: RecordSet, feature_set: str = 'ratios', *, l2: float = 1e-2) -> FeatureModel:
  """The physics baseline fitted on a record set, as a ``FeatureModel`` that can be shipped.

  Args:
    train: labelled training records (with their noise for a noise-referenced set).
    feature_set: a name in ``FEATURE_SETS``.
    l2: ridge strength (``fit_logistic``).

  Returns:
    The fitted model, at the records' sampling rate.

  Raises:
    ValueError: an unknown set, a noise-referenced set without noise, or one class only.
  """
  fitted = fit_logistic(record_features(train, feature_set), train.labels, l2=l2)
  return FeatureModel(feature_set, fitted, train.sampling_rate)
