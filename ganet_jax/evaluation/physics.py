"""A physics reference for GA-Net: logistic regression on P/S amplitude and spectral ratios.

The discriminants seismologists used before deep learning (paper Section I):
explosions put relatively more energy into P than S and into high frequencies
(shallow, impulsive sources), collapses and earthquakes into S and, for
collapses, long periods. Without S picks the windows are fixed offsets from the
P onset, which suits local records (S-P under ~5 s within ~40 km); the window
edges are parameters for other distances.

Features are computed from the windows the network sees (any channel count; the
vertical, channel 0, is used), so the comparison is on identical inputs.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ganet_jax.conventions import SAMPLING_RATE

FEATURE_NAMES = ('log_p_s_ratio_low', 'log_p_s_ratio_high', 'log_spectral_ratio_p', 'log_spectral_ratio_s',
                 'log_early_late_energy')


@dataclasses.dataclass(frozen=True)
class Windows:
  """Seconds after the P onset: P phase [0, p_end), S phase [p_end, s_end), late coda [s_end, end)."""
  p_end: float = 2.5
  s_end: float = 15.0
  low_band: tuple[float, float] = (1.0, 5.0)
  high_band: tuple[float, float] = (8.0, 20.0)


def _band_energy(segment: np.ndarray, band: tuple[float, float], rate: float) -> np.ndarray:
  """Energy of each row of ``segment`` (n, samples) between ``band`` Hz, from a Hann-tapered FFT."""
  taper = np.hanning(segment.shape[-1])
  spectrum = np.abs(np.fft.rfft((segment - segment.mean(-1, keepdims=True)) * taper, axis=-1)) ** 2
  freqs = np.fft.rfftfreq(segment.shape[-1], 1.0 / rate)
  in_band = (freqs >= band[0]) & (freqs < band[1])
  return spectrum[:, in_band].sum(-1)


def ratio_features(waveforms: np.ndarray, *, rate: float = SAMPLING_RATE,
                   windows: Windows = Windows()) -> np.ndarray:
  """Log10 amplitude/spectral ratios of the vertical channel.

  Args:
    waveforms: (n, time, channels) windows starting at the P onset.
    rate: sampling rate in Hz.
    windows: phase windows and frequency bands.

  Returns:
    (n, len(FEATURE_NAMES)) float64 features: P/S energy ratio in the low and
    the high band, high/low spectral ratio in the P and in the S window, and
    energy of the first ``s_end`` seconds over the rest (duration).
  """
  z = np.asarray(waveforms[..., 0], dtype=np.float64)
  p_end, s_end = int(windows.p_end * rate), int(windows.s_end * rate)
  p, s, late = z[:, :p_end], z[:, p_end:s_end], z[:, s_end:]
  tiny = 1e-12  # a dead (zero-filled) window must give a finite feature
  energy = lambda seg, band: _band_energy(seg, band, rate) + tiny
  log_ratio = lambda a, b: np.log10(a / b)
  return np.stack([
      log_ratio(energy(p, windows.low_band) / p_end, energy(s, windows.low_band) / (s_end - p_end)),
      log_ratio(energy(p, windows.high_band) / p_end, energy(s, windows.high_band) / (s_end - p_end)),
      log_ratio(energy(p, windows.high_band), energy(p, windows.low_band)),
      log_ratio(energy(s, windows.high_band), energy(s, windows.low_band)),
      log_ratio(np.mean(z[:, :s_end] ** 2, -1) + tiny, np.mean(late ** 2, -1) + tiny),
  ], axis=-1)


BANDS = ((1.0, 2.0), (2.0, 4.0), (4.0, 8.0), (8.0, 12.0), (12.0, 18.0))


def band_power_features(waveforms: np.ndarray, *, rate: float = SAMPLING_RATE,
                        bands: tuple[tuple[float, float], ...] = BANDS,
                        span_s: tuple[float, float] = (0.0, 60.0)) -> np.ndarray:
  """Log10 spectral power of the vertical in each band, relative to the mean over the bands.

  Ratios, not absolute powers: the windows are standardised, and a ratio between
  bands is what separates a shallow, impulsive blast from an earthquake of the same
  size. The bands stop below 20 Hz so records first sampled at 40-50 Hz (no energy
  above their Nyquist) are compared on the frequencies they all have.

  Args:
    waveforms: (n, time, channels) windows starting at the P onset.
    rate: sampling rate in Hz.
    bands: (low, high) Hz bands.
    span_s: seconds of the window analysed (from its start).

  Returns:
    (n, len(bands)) float64 log power ratios.
  """
  z = np.asarray(waveforms[..., 0], dtype=np.float64)[:, int(span_s[0] * rate):int(span_s[1] * rate)]
  log_power = np.stack([np.log10(_band_energy(z, band, rate) + 1e-12) for band in bands], axis=-1)
  return log_power - log_power.mean(-1, keepdims=True)


FEATURE_SETS = {
    'ratios': ratio_features,
    'bands': band_power_features,
    'bands+ratios': lambda waveforms: np.concatenate([band_power_features(waveforms), ratio_features(waveforms)],
                                                     axis=-1),
}


def physics_features(waveforms: np.ndarray, feature_set: str = 'ratios') -> np.ndarray:
  """The features of a named set in ``FEATURE_SETS`` (chosen by cross-validation, not fixed)."""
  if feature_set not in FEATURE_SETS:
    raise ValueError(f'unknown physics feature set {feature_set!r}; known: {", ".join(FEATURE_SETS)}')
  return FEATURE_SETS[feature_set](waveforms)


@dataclasses.dataclass(frozen=True)
class LogisticModel:
  """Standardisation constants and weights of a fitted logistic regression."""
  mean: np.ndarray
  scale: np.ndarray
  weights: np.ndarray
  bias: float

  def probability(self, features: np.ndarray) -> np.ndarray:
    """P(label == 1) for each row of ``features``."""
    z = ((features - self.mean) / self.scale) @ self.weights + self.bias
    return 1.0 / (1.0 + np.exp(-z))


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
  mean, scale = features.mean(0), features.std(0) + 1e-12
  x = np.hstack([(features - mean) / scale, np.ones((len(features), 1))])
  sample_weight = np.ones_like(labels)
  if balanced:
    for value in (0.0, 1.0):
      sample_weight[labels == value] = 0.5 * len(labels) / np.sum(labels == value)
  ridge = np.eye(x.shape[1]) * l2
  ridge[-1, -1] = 0.0
  theta = np.zeros(x.shape[1])
  for _ in range(iterations):
    p = 1.0 / (1.0 + np.exp(-x @ theta))
    gradient = x.T @ (sample_weight * (p - labels)) + ridge @ theta
    hessian = (x * (sample_weight * p * (1 - p))[:, None]).T @ x + ridge
    step = np.linalg.solve(hessian, gradient)
    theta -= step
    if np.max(np.abs(step)) < 1e-10:
      break
  return LogisticModel(mean=mean, scale=scale, weights=theta[:-1], bias=float(theta[-1]))


def fit_p_tectonic(waveforms: np.ndarray, labels: np.ndarray, feature_set: str = 'ratios'):
  """The physics baseline fitted on training windows: a function from windows to P(tectonic).

  ``fit_logistic`` models P(label == 1), which is P(non-tectonic); this turns it round once,
  so callers never have to.
  """
  fitted = fit_logistic(physics_features(np.asarray(waveforms), feature_set), labels)
  return lambda windows: 1.0 - fitted.probability(physics_features(np.asarray(windows), feature_set))
