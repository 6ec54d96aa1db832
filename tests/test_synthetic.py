"""Synthetic data: deterministic, well-formed, and its classes differ in the paper's physics."""

import numpy as np
import pytest

from ganet_jax.conventions import NON_TECTONIC, SAMPLING_RATE, TECTONIC
from ganet_jax.data.splits import chronological_split
from ganet_jax.data.synthetic import S_MINUS_P_SECONDS_PER_KM, make_synthetic


@pytest.fixture(scope='module')
def records():
  return make_synthetic(40, seed=3, samples=6000)


def test_deterministic_from_seed(records):
  again = make_synthetic(40, seed=3, samples=6000)
  np.testing.assert_array_equal(records.waveforms, again.waveforms)
  np.testing.assert_array_equal(records.record_ids, again.record_ids)
  other = make_synthetic(40, seed=4, samples=6000)
  assert not np.array_equal(records.waveforms[:5], other.waveforms[:5])


def test_shape_labels_events_and_years(records):
  assert records.waveforms.shape[1:] == (6000, 3) and records.waveforms.dtype == np.float32
  assert np.all(np.isfinite(records.waveforms))
  np.testing.assert_allclose(np.abs(records.waveforms).max(axis=(1, 2)), 1.0, rtol=1e-6)
  np.testing.assert_array_equal(records.labels == TECTONIC, records.event_types == 'earthquake')
  assert set(records.event_types) == {'earthquake', 'explosion', 'collapse'}
  stations = {e: np.sum(records.event_ids == e) for e in np.unique(records.event_ids)}
  assert min(stations.values()) >= 2 and max(stations.values()) <= 4
  years = np.asarray(records.origin_times, 'datetime64[Y]').astype(int) + 1970
  assert years.min() >= 2009 and years.max() <= 2018
  splits = chronological_split(records, ['2017-01-01'])
  assert len(splits['train']) and len(splits['test'])


def _p_to_s(record, distance_km):
  """Peak |Z| in the first second after P over the peak horizontal amplitude from S on."""
  s_sample = int(float(distance_km) * S_MINUS_P_SECONDS_PER_KM * SAMPLING_RATE)
  p_peak = np.abs(record[:100, 0]).max()
  s_peak = np.abs(record[s_sample:s_sample + 500, 1:]).max()
  return p_peak / s_peak


def _mean_frequency(record):
  spectrum = np.abs(np.fft.rfft(record[:200, 0])) ** 2  # the P wave train
  frequencies = np.fft.rfftfreq(200, 1 / SAMPLING_RATE)
  return np.sum(spectrum * frequencies) / np.sum(spectrum)


def test_classes_differ_in_p_to_s_ratio_and_frequency(records):
  by_type = lambda t: [i for i in range(len(records)) if records.event_types[i] == t]
  ratio = {t: np.median([_p_to_s(records.waveforms[i], records.extra['distance_km'][i]) for i in by_type(t)])
           for t in ('earthquake', 'explosion', 'collapse')}
  frequency = {t: np.median([_mean_frequency(records.waveforms[i]) for i in by_type(t)])
               for t in ('earthquake', 'explosion', 'collapse')}
  # Explosions: strong P, weak S; earthquakes the reverse.
  assert ratio['explosion'] > 2 * ratio['earthquake']
  # Collapses are long-period; explosions the highest-frequency source.
  assert frequency['collapse'] < frequency['earthquake'] < frequency['explosion']
  assert set(records.labels[by_type('collapse')]) == {NON_TECTONIC}


def test_bad_arguments():
  with pytest.raises(ValueError, match='num_events'):
    make_synthetic(0)
