"""Pre-event noise: where it is cut, how it is scaled, whitening by it, and its files and settings."""

import dataclasses
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import obspy
import pytest
import scipy.signal

from ganet_jax.data import ingest
from ganet_jax.data import prepare_settings
from ganet_jax.data import noise as noise_lib
from ganet_jax.data.preprocess import PreprocessConfig
from ganet_jax.data.records import RecordSet, load_prepared, save_prepared
from ganet_jax.errors import RecordRejected

ROOT = pathlib.Path(__file__).resolve().parents[1]
ORIGIN = obspy.UTCDateTime('2020-06-01T12:00:00')
RATE = 50.0


def _stream(data, start):
  return obspy.Stream([obspy.Trace(np.asarray(data, np.float64),
                                   header={'network': 'XX', 'station': 'STA', 'channel': 'HHZ',
                                           'sampling_rate': RATE, 'starttime': start})])


def _config(**changes):
  base = dict(window_s=20.0, sampling_rate=RATE, detrend_degree=0, noise_s=20.0, noise_gap_s=5.0)
  return PreprocessConfig(**{**base, **changes})


def _prepare(data, start, config, p_after_origin=3.0):
  return ingest.prepare_stream(_stream(data, start), ingest.PrepareOptions(preprocess=config),
                               p_onset=ORIGIN + p_after_origin, origin_time=ORIGIN, event_type='earthquake')


def test_noise_ends_the_gap_before_the_origin_and_is_scaled_by_the_windows_factor():
  rng = np.random.default_rng(0)
  start = ORIGIN - 60
  data = rng.normal(size=int(120 * RATE))
  marker = int((60 - 25 + 1) * RATE)  # origin - 24 s: one second into a noise running from origin - 25 s
  data[marker] = 50.0
  prepared = _prepare(data, start, _config())
  assert prepared.noise.shape == (int(20 * RATE), 3)
  assert prepared.extra['noise_s'] == '20.00'
  np.testing.assert_array_equal(prepared.noise[:, 1:], 0.0)  # absent components stay zero
  assert np.argmax(np.abs(prepared.noise[:, 0])) == int(1 * RATE)
  raw_noise = data[int(35 * RATE):int(55 * RATE)]
  raw_window = data[int(63 * RATE):int(83 * RATE)]
  np.testing.assert_allclose(prepared.noise[:, 0], (raw_noise - raw_noise.mean()) / raw_window.std(), rtol=1e-5)
  np.testing.assert_allclose(prepared.window[:, 0], (raw_window - raw_window.mean()) / raw_window.std(), rtol=1e-5)


def test_noise_ends_before_the_p_onset_when_it_comes_first():
  config = _config(noise_s=10.0, noise_gap_s=2.0)
  start = ORIGIN - 50
  span = noise_lib.noise_slice(start, int(150 * RATE), ORIGIN, ORIGIN - 3, config)
  assert (span.start, span.stop) == (int(35 * RATE), int(45 * RATE))  # P at origin - 3 s, then 2 s of gap


def test_without_noise_s_nothing_changes():
  data = np.random.default_rng(1).normal(size=int(120 * RATE))
  plain = _prepare(data, ORIGIN - 60, PreprocessConfig(window_s=20.0, sampling_rate=RATE, detrend_degree=0))
  assert plain.noise is None and 'noise_s' not in plain.extra
  with_noise = _prepare(data, ORIGIN - 60, _config())
  np.testing.assert_array_equal(plain.window, with_noise.window)


def test_short_noise_is_rejected_with_what_there_is_or_kept_by_the_fallback():
  data = np.random.default_rng(2).normal(size=int(80 * RATE))
  start = ORIGIN - 20  # 15 s of noise before origin - 5 s
  with pytest.raises(RecordRejected, match=r'only 15\.0 s of pre-event noise before the origin - 5 s .*20 s needed'):
    _prepare(data, start, _config())
  kept = _prepare(data, start, _config(noise_fallback='shorter'))
  assert kept.extra['noise_s'] == '15.00' and kept.noise.shape == (int(20 * RATE), 3)
  real = kept.noise[-int(15 * RATE):, 0]
  np.testing.assert_array_equal(kept.noise[:int(5 * RATE), 0], real[:int(5 * RATE)][::-1])  # mirrored, not zeros
  with pytest.raises(RecordRejected, match=r'only 5\.0 s .*at least 10 s'):
    _prepare(data[int(10 * RATE):], start + 10, _config(noise_fallback='shorter'))


def test_a_gap_inside_the_noise_rejects_the_record():
  data = np.random.default_rng(3).normal(size=int(120 * RATE))
  start = ORIGIN - 60
  stream = _stream(data[:int(40 * RATE)], start) + _stream(data[int(42 * RATE):], start + 42)
  with pytest.raises(RecordRejected, match='inside the pre-event noise'):
    ingest.prepare_stream(stream, ingest.PrepareOptions(preprocess=_config()), p_onset=ORIGIN + 3,
                          origin_time=ORIGIN, event_type='earthquake')


def test_config_checks_the_noise_settings():
  with pytest.raises(ValueError, match='--normalization=noise_whiten .*--noise_s > 0'):
    PreprocessConfig(normalization='noise_whiten')
  with pytest.raises(ValueError, match='--normalization=whiten: must be one of standardise, noise_whiten'):
    PreprocessConfig(normalization='whiten')
  with pytest.raises(ValueError, match='--noise_s=-1'):
    PreprocessConfig(noise_s=-1.0)
  with pytest.raises(ValueError, match='--noise_fallback=pad'):
    PreprocessConfig(noise_s=10.0, noise_fallback='pad')


def _log_spectrum(x, rate=RATE, band=(1.0, 20.0)):
  freqs, psd = scipy.signal.welch(x, fs=rate, nperseg=int(4 * rate))
  keep = (freqs >= band[0]) & (freqs <= band[1])
  return 0.5 * np.log10(psd[keep])


def _recorded(source, response, rng, noise_s=40.0):
  """The source (after the onset) plus white noise over the whole record, through a station response."""
  n_noise = int(noise_s * RATE)
  ground = rng.normal(size=n_noise + len(source))
  ground[n_noise:] += source
  recorded = scipy.signal.lfilter(*response, ground)
  return recorded[n_noise:], recorded[:n_noise]


def test_whitening_by_the_noise_removes_the_station_response():
  rng = np.random.default_rng(4)
  n = int(40 * RATE)
  envelope = np.exp(-np.arange(n) / (5 * RATE))
  source = 20 * envelope * scipy.signal.lfilter(*scipy.signal.butter(2, [2.0, 6.0], 'bandpass', fs=RATE),
                                                rng.normal(size=n))
  # Two stations, tilted opposite ways: a 3 Hz low-pass with gain 1000 and a 6 Hz high-pass with gain 0.01.
  low_b, low_a = scipy.signal.butter(2, 3.0, 'lowpass', fs=RATE)
  high_b, high_a = scipy.signal.butter(2, 6.0, 'highpass', fs=RATE)
  station_a, station_b = (1000 * low_b, low_a), (0.01 * high_b, high_a)
  records = [_recorded(source, station, rng) for station in (station_a, station_b)]
  config = dict(window_s=40.0, sampling_rate=RATE, detrend_degree=2, noise_s=40.0)
  standardised = [noise_lib.normalise_window(w, z, PreprocessConfig(**config)) for w, z in records]
  whitened = [noise_lib.normalise_window(w, z, PreprocessConfig(**config, normalization='noise_whiten'))
              for w, z in records]
  for window, noise, flat in whitened:
    assert not flat and window.shape == noise.shape == (n,)
    np.testing.assert_allclose(window.std(), 1.0, rtol=1e-6)
  # The noise's spectrum is flat after whitening (log spread across 1-20 Hz), coloured before.
  spread = lambda x: np.std(_log_spectrum(x))
  for (_, before, _), (_, after, _) in zip(standardised, whitened):
    assert spread(after) < 0.1 < 0.3 < spread(before)
  # Same source, different stations: spectra apart when standardised, together when whitened.
  distance = lambda pair: np.mean(np.abs(_log_spectrum(pair[0][0]) - _log_spectrum(pair[1][0])))
  assert distance(whitened) < 0.3 * distance(standardised)
  # The signal-to-noise ratio per band is kept: the window and noise went through the same filter.
  snr = lambda w, z: _log_spectrum(w) - _log_spectrum(z)
  np.testing.assert_allclose(snr(*whitened[0][:2]).mean(), snr(*standardised[0][:2]).mean(), atol=0.05)


def test_flat_noise_cannot_whiten():
  config = PreprocessConfig(window_s=10.0, sampling_rate=RATE, noise_s=10.0, normalization='noise_whiten')
  with pytest.raises(RecordRejected, match='no power'):
    noise_lib.normalise_window(np.random.default_rng(5).normal(size=500), np.zeros(500), config)


def _records(n=4, samples=30, noise_samples=20):
  rng = np.random.default_rng(6)
  return RecordSet(
      waveforms=rng.normal(size=(n, samples, 3)).astype(np.float32), labels=np.array([0, 1, 0, 1], np.int32),
      event_ids=np.array(['a', 'b', 'c', 'd']), origin_times=np.zeros(n, 'datetime64[ms]'),
      event_types=np.array(['earthquake', 'explosion'] * 2), record_ids=np.array(['r0', 'r1', 'r2', 'r3']),
      extra={'noise_s': np.array(['2.00'] * n)},
      preprocessing={'preprocess': {'window_s': 3.0, 'sampling_rate': 10.0, 'noise_s': 2.0}},
      noise=rng.normal(size=(n, noise_samples, 3)).astype(np.float32))


def test_noise_round_trips_through_the_prepared_folder_and_subsets(tmp_path):
  records = _records()
  loaded = load_prepared(save_prepared(tmp_path / 'set', records))
  np.testing.assert_array_equal(loaded.noise, records.noise)
  np.testing.assert_array_equal(loaded.subset([3, 1]).noise, records.noise[[3, 1]])
  assert list(loaded.extra['noise_s']) == ['2.00'] * 4
  without = load_prepared(save_prepared(tmp_path / 'plain', dataclasses.replace(records, noise=None)))
  assert without.noise is None and without.subset([0]).noise is None
  with pytest.raises(ValueError, match="column 'noise' has 3 rows"):
    dataclasses.replace(records, noise=records.noise[:3])


def test_a_noise_file_that_disagrees_with_the_settings_is_refused(tmp_path):
  folder = save_prepared(tmp_path / 'set', _records(noise_samples=25))
  with pytest.raises(ValueError, match=r'noise\.npy: noise segments of 25 samples; preprocess\.json says 20'):
    load_prepared(folder)


def test_noise_settings_round_trip_and_older_settings_mean_none():
  config = PreprocessConfig(window_s=40.0, noise_s=40.0, noise_gap_s=6.0, normalization='noise_whiten',
                            bandpass=(1.0, 15.0))
  saved = json.loads(json.dumps(prepare_settings.settings(ingest.PrepareOptions(preprocess=config))))
  caller = ingest.PrepareOptions(preprocess=PreprocessConfig(noise_fallback='shorter', max_pad_s=3.0))
  rebuilt = prepare_settings.options_from_settings(saved, caller).preprocess
  assert (rebuilt.noise_s, rebuilt.noise_gap_s, rebuilt.normalization) == (40.0, 6.0, 'noise_whiten')
  assert (rebuilt.noise_fallback, rebuilt.max_pad_s) == ('shorter', 3.0)  # the caller's selection policies
  older = {**saved, 'preprocess': {k: v for k, v in saved['preprocess'].items()
                                   if k not in ('noise_s', 'noise_gap_s', 'normalization', 'noise_fallback')}}
  rebuilt = prepare_settings.options_from_settings(older, ingest.PrepareOptions(preprocess=config)).preprocess
  assert (rebuilt.noise_s, rebuilt.normalization, rebuilt.bandpass) == (0.0, 'standardise', (1.0, 15.0))
  # An ensemble may mix members prepared before and after these settings existed.
  plain = prepare_settings.settings(ingest.PrepareOptions())['preprocess']
  assert prepare_settings.signal_settings({k: v for k, v in plain.items() if k not in prepare_settings.LATER_SIGNAL_SETTINGS}) == \
      prepare_settings.signal_settings(plain)
  assert prepare_settings.signal_settings(saved['preprocess']) != prepare_settings.signal_settings(plain)


@pytest.mark.slow
def test_prepare_keeps_noise_and_whitens_real_pnw_records(shared_data, tmp_path):
  from test_prepare_cli import _subset_table  # pytest puts tests/ on sys.path
  table = tmp_path / 'labels.csv'
  _subset_table(shared_data / 'pnw' / 'labels.csv', table, slice(0, 3))  # three 100 Hz records of one explosion
  output = tmp_path / 'prepared'
  prepare = lambda *flags: subprocess.run(
      [sys.executable, '-m', 'experiments.prepare', f'--input={shared_data / "pnw"}', f'--records={table}',
       f'--output={output}', '--window_s=40', *flags],
      cwd=ROOT, env={**os.environ, 'PYTHONPATH': str(ROOT)}, capture_output=True, text=True, timeout=300)
  result = prepare('--bandpass=1,15', '--noise_s=40', '--normalization=noise_whiten')
  assert result.returncode == 0, result.stderr
  records = load_prepared(output)
  assert len(records) == 3, (output / 'rejected.csv').read_text() if (output / 'rejected.csv').exists() else ''
  assert records.waveforms.shape == (3, 4000, 3) and records.noise.shape == (3, 4000, 3)
  assert list(records.extra['noise_s']) == ['40.00'] * 3
  assert records.preprocessing['preprocess']['normalization'] == 'noise_whiten'
  assert records.preprocessing['preprocess']['noise_s'] == 40.0
  np.testing.assert_allclose(np.asarray(records.waveforms)[:, :, 0].std(axis=1), 1.0, atol=1e-3)
  assert np.all(np.asarray(records.noise)[:, :, 0].std(axis=1) > 0)
  # A set with noise is replaced by one without: no stale noise.npy stays behind.
  result = prepare('--overwrite')
  assert result.returncode == 0, result.stderr
  assert load_prepared(output).noise is None and not (output / 'noise.npy').exists()
