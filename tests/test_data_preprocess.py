"""Each preprocessing step of the paper (Section III-A) on synthetic signals."""

import io

import numpy as np
import obspy
import pytest

from ganet_jax import conventions
from ganet_jax.data import labels
from ganet_jax.data import picking
from ganet_jax.data import preprocess
from ganet_jax.data.preprocess import PreprocessConfig
from ganet_jax.errors import RecordRejected


def _trace(data, rate, start=obspy.UTCDateTime(2020, 1, 1)):
  return obspy.Trace(np.asarray(data, np.float64), header={'sampling_rate': rate, 'starttime': start,
                                                            'network': 'XX', 'station': 'S', 'channel': 'HHZ'})


def test_defaults_are_the_papers():
  config = PreprocessConfig()
  assert (config.window_s, config.sampling_rate, config.detrend_degree, config.max_distance_km) == (100, 100, 10, 200)
  assert config.window_samples == 10000


def test_distance_limit_uses_geodesic_distance():
  one_degree = preprocess.epicentral_distance_km(0.0, 0.0, 0.0, 1.0)
  assert one_degree == pytest.approx(111.3, abs=0.2)
  preprocess.check_distance(one_degree, 200.0)
  preprocess.check_distance(None, 200.0)  # unknown distance is not a reason
  preprocess.check_distance(float('nan'), 200.0)
  with pytest.raises(RecordRejected, match=r'distance 334 km > 200 km'):
    preprocess.check_distance(3 * one_degree, 200.0)
  preprocess.check_distance(3 * one_degree, None)


def test_component_slots_map_1_2_to_n_e():
  assert [preprocess.component_slot(c) for c in ('BHZ', 'BHN', 'BHE', 'BH1', 'BH2', 'HHR', 'X')] == \
      [0, 1, 2, 1, 2, None, None]


def test_resample_rejects_low_rates_instead_of_upsampling():
  with pytest.raises(RecordRejected, match=r'sampling rate 1 Hz < 20 Hz'):
    preprocess.resample(_trace(np.zeros(150), 1.0), 100.0, 20.0)


@pytest.mark.parametrize('rate', [200.0, 125.0, 500.0])
def test_downsampling_removes_frequencies_above_the_new_nyquist(rate):
  t = np.arange(int(60 * rate)) / rate
  # 5 Hz survives; 70 Hz would alias to 30 Hz without the anti-alias filter.
  trace = _trace(np.sin(2 * np.pi * 5 * t) + np.sin(2 * np.pi * 70 * t), rate)
  out = preprocess.resample(trace, 100.0, 20.0)
  assert out.stats.sampling_rate == 100.0
  spectrum = np.abs(np.fft.rfft(out.data[500:-500] * np.hanning(len(out.data) - 1000)))
  freqs = np.fft.rfftfreq(len(out.data) - 1000, 0.01)
  at = lambda f: spectrum[np.argmin(np.abs(freqs - f))]
  assert at(30.0) < 0.01 * at(5.0)
  assert len(out.data) == pytest.approx(60 * 100, abs=2)


def test_upsampling_keeps_the_signal():
  t50 = np.arange(3000) / 50.0
  out = preprocess.resample(_trace(np.sin(2 * np.pi * 3 * t50), 50.0), 100.0, 20.0)
  t100 = np.arange(len(out.data)) / 100.0
  np.testing.assert_allclose(out.data[200:-200], np.sin(2 * np.pi * 3 * t100)[200:-200], atol=2e-3)


def test_gaps_are_found_filled_and_rejected_only_inside_the_window():
  start = obspy.UTCDateTime(2020, 1, 1)
  stream = obspy.Stream([_trace(np.ones(1000), 100.0, start), _trace(np.ones(1000) * 3, 100.0, start + 15.0)])
  filled, gaps = preprocess.merge_segments(stream)
  assert len(gaps) == 1 and gaps[0][0] == start + 10.0 and gaps[0][1] == start + 15.0
  assert not np.ma.isMaskedArray(filled.data) and filled.data[1250] == pytest.approx(2.0, abs=0.01)
  assert filled.data.dtype == np.float64 and len(filled.data) == 2500
  assert preprocess.check_gaps(gaps, start + 16.0, start + 20.0, 0.1) == 0.0
  with pytest.raises(RecordRejected, match=r'gap of 5.00 s .* inside the window'):
    preprocess.check_gaps(gaps, start + 5.0, start + 20.0, 0.1)


def test_window_is_exactly_the_window_length_from_the_p_onset():
  config = PreprocessConfig()
  start = obspy.UTCDateTime(2020, 1, 1)
  data = np.arange(15001, dtype=np.float64)
  window = preprocess.cut_window(data, start, 100.0, start + 12.34, config)
  assert len(window) == 10000 and window[0] == 1234
  short = preprocess.cut_window(data, start, 100.0, start + 60.0, config)  # 90 s left: padded later
  assert len(short) == 9001
  with pytest.raises(RecordRejected, match=r'record ends 40.0 s after the P onset'):
    preprocess.cut_window(data, start, 100.0, start + 110.0, config)
  preprocess.check_covers_origin(start, 15001, 100.0, start + 50.0, config)
  with pytest.raises(RecordRejected, match=r'record too short: it holds 2.0 s from the origin time on'):
    preprocess.check_covers_origin(start, 15001, 100.0, start + 148.0, config)
  with pytest.raises(RecordRejected, match=r'holds 0.0 s .*origin-190.0 s to origin-40.0 s'):
    preprocess.check_covers_origin(start + 10.0, 15001, 100.0, start + 200.0, config)
  with pytest.raises(RecordRejected, match=r'holds 1.8 s'):  # starts long after the origin
    preprocess.check_covers_origin(start + 98.2, 180, 100.0, start, config)
  with pytest.raises(RecordRejected, match='outside the record'):
    preprocess.cut_window(data, start, 100.0, start - 1.0, config)


def test_polynomial_detrend_removes_a_degree_10_polynomial_in_float64():
  t = np.linspace(-1, 1, 10000)
  noise = np.random.default_rng(0).normal(size=10000)
  trend = np.polynomial.legendre.legval(t, np.arange(1, 12) * 1e4)
  out = preprocess.polynomial_detrend(trend + noise, 10)
  assert out.dtype == np.float64
  assert np.abs(out - noise).max() < 0.2  # the trend (amplitude ~1e5) is gone, the noise stays
  np.testing.assert_allclose(preprocess.polynomial_detrend(trend, 10), 0, atol=1e-6)


def test_polynomial_detrend_matches_a_scaled_domain_polynomial_fit():
  x = np.cumsum(np.random.default_rng(4).normal(size=9001))  # a wandering baseline
  reference = x - np.polynomial.Polynomial.fit(np.arange(len(x)), x, 10)(np.arange(len(x)))
  np.testing.assert_allclose(preprocess.polynomial_detrend(x, 10), reference, atol=1e-6 * np.abs(x).max())


def test_standardise_and_dead_channels():
  x = np.random.default_rng(1).normal(3.0, 5.0, 1000)
  y, dead = preprocess.standardise(x)
  assert not dead and abs(y.mean()) < 1e-9 and y.std() == pytest.approx(1.0)
  z, dead = preprocess.standardise(np.full(1000, 2047.0))
  assert dead and np.all(z == 0) and np.all(np.isfinite(z))


def test_padded_window_is_standardised_over_its_whole_length():
  config = PreprocessConfig()
  data = np.random.default_rng(2).normal(size=9500) + np.linspace(0, 50, 9500)
  window, dead = preprocess.window_from_trace_data(data, config)
  assert not dead and len(window) == 10000
  assert abs(window.mean()) < 1e-9 and window.std() == pytest.approx(1.0)


@pytest.mark.parametrize('slots', [[0, 1, 2], [0], [1, 2], [0, 2], [2, 0]])
@pytest.mark.parametrize('n_samples', [1000, 957])
@pytest.mark.parametrize('dead', [False, True])
def test_a_window_made_in_place_is_the_assembled_windows(slots, n_samples, dead):
  config = PreprocessConfig(window_s=10.0)
  rng = np.random.default_rng(n_samples)
  rows = rng.normal(size=(len(slots), n_samples)).cumsum(axis=1) * 50.0 + 3e4
  if dead:
    rows[-1] = 0.0  # a dead channel: zeros, flagged flat (the exact path decides)
  expected, expected_flat = preprocess.windows_from_rows(rows, config)
  window, flat = preprocess.window_from_rows(rows, slots, config)
  assembled, _ = preprocess.assemble_components(dict(zip(slots, expected)), config.window_samples)
  assert window.dtype == np.float32 and window.shape == (1000, 3)
  # The sums are rounded differently: ~1e-16 of a unit-variance sample, below float32's rounding.
  np.testing.assert_allclose(window, assembled, rtol=0, atol=1e-12)
  np.testing.assert_array_equal(flat, expected_flat)
  assert list(flat) == [False] * (len(slots) - 1) + [dead]


def test_flat_channels_are_those_whose_std_is_tiny_against_their_largest_sample():
  rng = np.random.default_rng(3)
  rows = np.stack([np.zeros(500), np.full(500, 2047.0), 1e-13 * rng.normal(size=500),
                   1e3 + 1e-10 * rng.normal(size=500), 1e-11 * rng.normal(size=500), 1e-160 * rng.normal(size=500),
                   rng.normal(size=500), 1e12 + 1e-3 * rng.normal(size=500), 1e12 + 10 * rng.normal(size=500)])
  _, flat = preprocess.standardise_rows(rows)
  # The rule in full: std <= EPSILON * max(1, largest |sample|), std as NumPy computes it.
  expected = rows.std(axis=1) <= conventions.EPSILON * np.maximum(1.0, np.abs(rows).max(axis=1))
  assert list(flat) == list(expected) == [True, True, True, True, False, True, False, True, False]


def test_missing_components_are_zero_filled_in_zne_order():
  window, present = preprocess.assemble_components({0: np.ones(10), 2: np.full(10, 2.0)}, 10)
  assert window.shape == (10, 3) and window.dtype == np.float32 and present == 'ZE'
  assert np.all(window[:, 1] == 0) and np.all(window[:, 2] == 2)


def test_nan_samples_are_rejected():
  with pytest.raises(RecordRejected, match='2 NaN/inf samples'):
    preprocess.reject_non_finite(_trace([1.0, np.nan, np.inf, 2.0], 100.0))


def test_labels_from_quakeml_types():
  assert labels.label_for_event_type('earthquake') == 0
  for event_type in ('quarry blast', 'Nuclear Explosion', 'mine collapse', 'rock burst', 'explosion'):
    assert labels.label_for_event_type(event_type) == 1
  with pytest.raises(RecordRejected, match="'landslide'"):
    labels.label_for_event_type('landslide')
  mapping = labels.parse_mapping('nuclear explosion (DPRK)=nuclear explosion; landslide=1')
  assert labels.label_for_event_type('nuclear explosion (DPRK)', mapping) == 1
  assert labels.label_for_event_type('landslide', mapping) == 1
  with pytest.raises(ValueError, match='name=value'):
    labels.parse_mapping('landslide')


def test_sta_lta_finds_an_onset_in_noise():
  rng = np.random.default_rng(3)
  rate, origin = 100.0, obspy.UTCDateTime(2020, 1, 1, 0, 0, 50)
  data = rng.normal(size=15000)
  t = np.arange(3000) / rate
  data[5400:8400] += 20 * np.exp(-t) * np.sin(2 * np.pi * 6 * t)  # onset 4 s after the origin
  trace = _trace(data, rate, origin - 50)
  onset, peak = picking.sta_lta_onset(trace, origin, None)
  assert abs(onset - (origin + 4.0)) < 0.3 and peak > 3.0
  with pytest.raises(RecordRejected, match='no P onset'):
    picking.sta_lta_onset(_trace(rng.normal(size=15000), rate, origin - 50), origin, None)


def test_sac_picks_are_relative_to_the_reference_time():
  written = _trace(np.zeros(100, np.float32), 100.0, obspy.UTCDateTime(2020, 1, 1, 0, 0, 10))
  written.stats.sac = obspy.core.AttribDict({'b': 10.0, 'a': -12345.0, 't1': 42.5, 'o': 0.0})
  buffer = io.BytesIO()
  written.write(buffer, format='SAC')
  buffer.seek(0)
  trace = obspy.read(buffer, format='SAC')[0]  # ObsPy drops the unset (-12345) 'a'
  onset, method = picking.sac_pick(trace)
  assert method == 'sac:t1' and onset == obspy.UTCDateTime(2020, 1, 1, 0, 0, 42.5)
  assert picking.sac_origin(trace) == obspy.UTCDateTime(2020, 1, 1)
