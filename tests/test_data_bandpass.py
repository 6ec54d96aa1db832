"""Optional band-pass in preprocessing: validation, the filter, and its record in a prepared set."""

import csv
import dataclasses

import numpy as np
import pytest

from ganet_jax.data import ingest
from ganet_jax.data import prepare_settings
from ganet_jax.data import preprocess
from ganet_jax.data import records_table
from ganet_jax.data.preprocess import PreprocessConfig
from ganet_jax.data.records import load_prepared, save_prepared


@pytest.mark.parametrize('band, message', [
    ((20.0, 1.0), 'FREQMIN < FREQMAX'),
    ((0.0, 20.0), '0 < FREQMIN'),
    ((1.0, 50.0), '< 50 Hz'),  # Nyquist of the 100 Hz output
    ((1.0, float('nan')), '--bandpass'),
])
def test_bandpass_outside_zero_to_nyquist_is_refused(band, message):
  with pytest.raises(ValueError, match=message):
    PreprocessConfig(bandpass=band)


def test_bandpass_flag_text():
  assert preprocess.parse_band('') is None
  assert preprocess.parse_band('1,20') == (1.0, 20.0)
  assert PreprocessConfig(bandpass=preprocess.parse_band('1,20')).bandpass_label == '1-20 Hz'
  assert PreprocessConfig().bandpass_label == ''
  with pytest.raises(ValueError, match='--bandpass=1'):
    preprocess.parse_band('1')


def test_bandpass_keeps_the_band_and_removes_what_is_outside():
  rate = 100.0
  t = np.arange(6000) / rate
  inside, below, above = np.sin(2 * np.pi * 5 * t), np.sin(2 * np.pi * 0.1 * t), np.sin(2 * np.pi * 40 * t)
  config = PreprocessConfig(bandpass=(1.0, 20.0))
  filtered = preprocess.bandpass_record(3 + inside + below + above, rate, config)
  middle = slice(1000, 5000)  # away from the tapered ends
  residual = filtered[middle] - inside[middle]
  assert np.sqrt(np.mean(residual ** 2)) < 0.05 * np.sqrt(np.mean(inside[middle] ** 2))
  # Zero phase: the 5 Hz sine is not shifted.
  assert np.argmax(np.correlate(filtered[middle], inside[middle], 'full')) == len(inside[middle]) - 1
  raw = np.ones(10)
  assert preprocess.bandpass_record(raw, rate, PreprocessConfig()) is raw  # off: untouched


def _pnw_record(shared_data):
  with open(shared_data / 'pnw' / 'labels.csv', newline='') as f:
    row = next(r for r in csv.DictReader(f) if r['file'] == 'waveforms/uw61348817_UW.BHW.EHZ.mseed')
  return records_table.group_rows([row], shared_data / 'pnw', source='pnw')


def test_bandpassed_window_and_its_settings_in_the_prepared_set(shared_data, tmp_path):
  records = _pnw_record(shared_data)
  options = ingest.PrepareOptions(preprocess=PreprocessConfig(bandpass=(1.0, 20.0)))
  plain, _ = ingest.prepare_records(records, ingest.PrepareOptions())
  filtered, rejected = ingest.prepare_records(records, options)
  assert not rejected and len(filtered) == 1
  assert list(filtered.extra['bandpass']) == ['1-20 Hz'] and list(plain.extra['bandpass']) == ['']
  assert list(filtered.extra['p_onset']) == list(plain.extra['p_onset'])  # the picker ignores the band
  window = np.asarray(filtered.waveforms[0, :, 0], np.float64)
  assert window.std() == pytest.approx(1.0, abs=1e-3)  # standardised after the filter

  def share_below_half_hertz(x):
    power = np.abs(np.fft.rfft(x)) ** 2
    return power[np.fft.rfftfreq(len(x), 0.01) < 0.5].sum() / power.sum()

  assert share_below_half_hertz(window) < 0.2 * share_below_half_hertz(plain.waveforms[0, :, 0])
  folder = save_prepared(tmp_path / 'set', dataclasses.replace(filtered, preprocessing=prepare_settings.settings(options)))
  assert (folder / 'preprocess.json').is_file()
  loaded = load_prepared(folder)
  assert loaded.subset([0]).preprocessing['preprocess']['bandpass'] == [1.0, 20.0]
  again = prepare_settings.options_from_settings(loaded.preprocessing, ingest.PrepareOptions(
      preprocess=PreprocessConfig(max_distance_km=None, max_pad_s=3.0)))
  assert again.preprocess.bandpass == (1.0, 20.0)
  assert again.preprocess.max_distance_km is None and again.preprocess.max_pad_s == 3.0  # the caller's limits
  np.testing.assert_array_equal(ingest.prepare_record(records[0], again).window, filtered.waveforms[0])
