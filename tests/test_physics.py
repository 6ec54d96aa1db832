import dataclasses

import numpy as np
import pytest

from ganet_jax.evaluation.physics import FEATURE_NAMES, fit_logistic, ratio_features


def _record(rng, p_amp, s_amp, p_freq, length=3000, rate=100.0):
  t = np.arange(length) / rate
  p = p_amp * np.sin(2 * np.pi * p_freq * t) * (t < 2.5)
  s = s_amp * np.sin(2 * np.pi * 3.0 * t) * ((t >= 2.5) & (t < 15)) * np.exp(-(t - 2.5) / 5)
  z = p + s + 0.01 * rng.standard_normal(length)
  return np.stack([z, np.zeros(length), np.zeros(length)], -1)


def test_features_follow_the_physics():
  rng = np.random.default_rng(0)
  explosion = _record(rng, p_amp=3.0, s_amp=0.5, p_freq=12.0)
  earthquake = _record(rng, p_amp=0.5, s_amp=3.0, p_freq=3.0)
  f = ratio_features(np.stack([explosion, earthquake]).astype(np.float32), rate=100.0)
  assert f.shape == (2, len(FEATURE_NAMES))
  assert np.isfinite(f).all()
  high_p_s = FEATURE_NAMES.index('log_p_s_ratio_high')
  spectral_p = FEATURE_NAMES.index('log_spectral_ratio_p')
  assert f[0, high_p_s] > f[1, high_p_s]
  assert f[0, spectral_p] > f[1, spectral_p] + 1


def test_dead_channel_gives_finite_features():
  assert np.isfinite(ratio_features(np.zeros((1, 3000, 3), np.float32), rate=100.0)).all()


def test_logistic_regression_matches_scikit_learn():
  sklearn = pytest.importorskip('sklearn.linear_model')
  rng = np.random.default_rng(1)
  x = rng.standard_normal((200, 3)) * [1, 5, 0.1] + [0, 2, 1]
  y = (x @ [1.0, -0.3, 4.0] + 0.5 * rng.standard_normal(200) > 0).astype(int)
  model = fit_logistic(x, y, l2=1.0, balanced=False)
  reference = sklearn.LogisticRegression(C=1.0, tol=1e-10, max_iter=1000).fit((x - x.mean(0)) / x.std(0), y)
  np.testing.assert_allclose(model.weights, reference.coef_[0], rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(model.probability(x), reference.predict_proba((x - x.mean(0)) / x.std(0))[:, 1],
                             atol=1e-6)


def test_balanced_weights_lift_the_minority_class():
  rng = np.random.default_rng(2)
  x = np.concatenate([rng.normal(0, 1, (190, 1)), rng.normal(1.2, 1, (10, 1))])
  y = np.array([0] * 190 + [1] * 10)
  plain = fit_logistic(x, y, balanced=False).probability(x)
  balanced = fit_logistic(x, y, balanced=True).probability(x)
  assert np.mean(balanced[y == 1] > 0.5) > np.mean(plain[y == 1] > 0.5)


def test_one_class_is_refused():
  with pytest.raises(ValueError, match='both classes'):
    fit_logistic(np.zeros((4, 2)), np.zeros(4))


def test_band_powers_find_the_dominant_band_and_every_set_is_finite():
  from ganet_jax.evaluation.physics import BANDS, FEATURE_SETS, band_power_features, physics_features
  t = np.arange(6000) / 100.0
  tones = np.stack([np.sin(2 * np.pi * 3.0 * t), np.sin(2 * np.pi * 15.0 * t)])[..., None]
  f = band_power_features(tones.astype(np.float32), rate=100.0)
  assert f.shape == (2, len(BANDS))
  assert np.argmax(f[0]) == 1 and np.argmax(f[1]) == 4  # 2-4 Hz and 12-18 Hz
  np.testing.assert_allclose(f.sum(-1), 0.0, atol=1e-9)  # relative to the mean over bands
  zeros = np.zeros((1, 6000, 3), np.float32)
  for name in FEATURE_SETS:
    assert np.isfinite(physics_features(zeros, name, rate=100.0, noise=zeros[:, :4000])).all()
  with pytest.raises(ValueError, match='unknown physics feature set'):
    physics_features(tones, 'nope', rate=100.0)


def test_lookup_controls_learn_a_confound_and_fall_back_to_the_prior():
  from ganet_jax.data import RecordSet
  from ganet_jax.evaluation.controls import control_probabilities, lookup_predictor
  predict = lookup_predictor(['A', 'A', 'A', 'B'], [0, 0, 1, 1])
  np.testing.assert_allclose(predict(['A', 'B', 'C']), [3 / 5, 1 / 3, 3 / 6])  # Laplace; C unseen: prior
  n = 6
  records = RecordSet(
      waveforms=np.zeros((n, 4, 1), np.float32), labels=np.array([0, 0, 0, 1, 1, 1]),
      event_ids=np.arange(n).astype(str), origin_times=np.array(['2010', '2010', '2011', '2015', '2016', '2016'],
                                                                  'datetime64[ms]'),
      event_types=np.full(n, 'x'), record_ids=np.arange(n).astype(str),
      extra={'network': np.full(n, 'UW'), 'station': np.array(['S1', 'S1', 'S2', 'S3', 'S3', 'S2']),
             'channels': np.array(['BHZ'] * 3 + ['EHZ'] * 3), 'sampling_rate_in': np.array(['50'] * 3 + ['100'] * 3)})
  p = control_probabilities(records, records)
  assert set(p) == {'station', 'instrument', 'era'}
  assert np.all(p['instrument'][:3] > 0.5) and np.all(p['instrument'][3:] < 0.5)  # the instrument gives it away


def test_features_take_the_windows_rate():
  from ganet_jax.evaluation.physics import BANDS, band_power_features, usable_bands
  rate = 40.0
  t = np.arange(int(60 * rate)) / rate
  tones = np.stack([np.sin(2 * np.pi * 3.0 * t), np.sin(2 * np.pi * 15.0 * t)])[..., None]
  f = band_power_features(tones, rate=rate)
  assert f.shape == (2, len(BANDS))
  assert np.argmax(f[0]) == 1 and np.argmax(f[1]) == 4  # found at 40 Hz: 2-4 Hz and 12-18 Hz
  # The P window is p_end seconds at any rate: a 12 Hz P over a 3 Hz S at 40 Hz, as at 100 Hz.
  rng = np.random.default_rng(0)
  explosion = _record(rng, 3.0, 0.5, 12.0, length=int(30 * rate), rate=rate)
  earthquake = _record(rng, 0.5, 3.0, 3.0, length=int(30 * rate), rate=rate)
  ratios = ratio_features(np.stack([explosion, earthquake]), rate=rate)
  spectral_p = FEATURE_NAMES.index('log_spectral_ratio_p')
  assert ratios[0, spectral_p] > ratios[1, spectral_p] + 1
  assert usable_bands(BANDS, 20.0) == ((1.0, 2.0), (2.0, 4.0), (4.0, 8.0), (8.0, 10.0))  # clipped at Nyquist
  with pytest.raises(ValueError, match='no band .* below the Nyquist frequency 1 Hz of windows at 2 Hz'):
    band_power_features(tones, rate=2.0)


def _window_and_noise(rng, rate, tone_hz, n_records=2):
  """Records with a white noise before a tone burst over the same noise."""
  t = np.arange(int(40 * rate)) / rate
  windows = rng.normal(size=(n_records, len(t))) + 5 * np.sin(2 * np.pi * tone_hz * t) * np.exp(-t / 10)
  noise = rng.normal(size=(n_records, int(30 * rate)))
  return windows[..., None], noise[..., None]


def test_noise_referenced_features_find_the_signals_band_and_ignore_the_recording():
  import scipy.signal
  from ganet_jax.evaluation.physics import (band_power_features, band_snr_features, physics_features,
                                            snr_features, snr_shape_features)
  rate = 40.0
  rng = np.random.default_rng(1)
  windows, noise = _window_and_noise(rng, rate, 10.0)
  snr = band_snr_features(windows, noise, rate=rate)
  assert np.all(np.argmax(snr, axis=-1) == 3)  # 8-12 Hz
  assert np.all(np.abs(np.delete(snr, 3, axis=-1)) < 0.3)  # elsewhere the window is noise alone
  # A per-record gain and a response common to signal and noise cancel; the raw band powers keep the response.
  gain = np.array([0.1, 1e4])[:, None, None]
  b, a = scipy.signal.butter(1, 3.0, 'lowpass', fs=rate)
  recorded = lambda x: scipy.signal.lfilter(b, a, gain * x, axis=1)
  for features in (band_snr_features, snr_shape_features, snr_features):
    np.testing.assert_allclose(features(gain * windows, gain * noise, rate=rate), features(windows, noise, rate=rate),
                               atol=1e-6)
    np.testing.assert_allclose(features(recorded(windows), recorded(noise), rate=rate),
                               features(windows, noise, rate=rate), atol=0.15)
  raw_change = band_power_features(recorded(windows), rate=rate) - band_power_features(windows, rate=rate)
  assert np.abs(raw_change).max() > 0.5
  np.testing.assert_allclose(snr_shape_features(windows, noise, rate=rate).sum(-1), 0.0, atol=1e-9)
  assert snr_features(windows, noise, rate=rate).shape == (2, 1)
  with pytest.raises(ValueError, match="'snr_shape' is noise-referenced: it needs the records' pre-event noise"):
    physics_features(windows, 'snr_shape', rate=rate)


def test_the_baseline_fits_on_records_with_their_rate_and_noise():
  from ganet_jax.data import RecordSet
  from ganet_jax.evaluation.physics import fit_records
  rate = 40.0
  rng = np.random.default_rng(2)
  high, high_noise = _window_and_noise(rng, rate, 14.0, n_records=6)
  low, low_noise = _window_and_noise(rng, rate, 3.0, n_records=6)
  n = 12
  records = RecordSet(
      waveforms=np.concatenate([high, low]), labels=np.array([1] * 6 + [0] * 6), event_ids=np.arange(n).astype(str),
      origin_times=np.zeros(n, 'datetime64[ms]'), event_types=np.array(['explosion'] * 6 + ['earthquake'] * 6),
      record_ids=np.arange(n).astype(str), preprocessing={'preprocess': {'sampling_rate': rate}},
      noise=np.concatenate([high_noise, low_noise]))
  p_tectonic = fit_records(records, 'snr_shape')(records)
  assert np.all(p_tectonic[6:] > 0.5) and np.all(p_tectonic[:6] < 0.5)
  with pytest.raises(ValueError, match='noise-referenced'):
    fit_records(records, 'snr_bands')(dataclasses.replace(records, noise=None))
