"""A tiny dataset in the SeisBench format, written with h5py and read back."""

import csv

import h5py
import numpy as np
import pytest

from ganet_jax.data import seisbench

COLUMNS = ('trace_name', 'source_id', 'source_origin_time', 'source_type', 'trace_category',
           'trace_sampling_rate_hz', 'trace_p_arrival_sample', 'trace_P_arrival_sample', 'split',
           'station_network_code', 'station_code', 'path_ep_distance_km')


def _burst(rng, n, onset, rate):
  """Noise with a decaying burst from ``onset`` (so the window start is checkable)."""
  x = rng.normal(size=n) * 0.1
  t = np.arange(n - onset) / rate
  x[onset:] += 10 * np.exp(-t / 3) * rng.normal(size=n - onset)
  return x


def _write_dataset(path):
  rng = np.random.default_rng(0)
  bucket = np.zeros((3, 3, 12000))  # component order E, N, Z; Z stays flat
  for i in range(3):
    bucket[i, 0] = _burst(rng, 12000, 1500, 100.0)
    bucket[i, 1] = rng.normal(size=12000)
  bucket[2, 0, 50] = np.nan
  bucket = np.concatenate([bucket, bucket[[0, 0, 0]]])  # traces 3-5: copies of trace 0 for rows ev5-ev7
  short = np.stack([_burst(rng, 6000, 500, 50.0), rng.normal(size=6000), np.zeros(6000)])
  with h5py.File(path / 'waveforms.hdf5', 'w') as f:
    f['data_format/component_order'] = 'ENZ'
    f['data_format/dimension_order'] = 'CW'
    f['data/bucket0'] = bucket
    f['data/single'] = short
  rows = [
      ('bucket0$0,:3,:12000', 'ev1', '2020-01-01T00:00:00', 'earthquake', '', '100', '1500', '', 'train', 'XX', 'A', '50'),
      ('bucket0$1,:3,:12000', 'ev2', '2021-01-01T00:00:00', '', 'explosion', '100', '', '1500', 'test', 'XX', 'B', '60'),
      ('bucket0$2,:3,:12000', 'ev3', '2021-02-01T00:00:00', 'quarry blast', '', '100', '1500', '', 'test', 'XX', 'C', '70'),
      ('single', 'ev4', '2021-03-01T00:00:00', 'quarry blast', '', '50', '500', '', 'dev', 'XX', 'D', '80'),
      ('bucket0$3,:3,:12000', 'ev5', '2021-04-01T00:00:00', '', 'noise', '100', '1500', '', 'train', 'XX', 'E', '90'),
      ('bucket0$4,:3,:12000', 'ev6', '2021-05-01T00:00:00', 'earthquake', '', '100', '', '', 'train', 'XX', 'F', '90'),
      ('bucket0$5,:3,:12000', 'ev7', '2021-06-01T00:00:00', 'earthquake', '', '100', '1500', '', 'train', 'XX', 'G', '900'),
      ('missing$0,:3,:12000', 'ev8', '2021-07-01T00:00:00', 'earthquake', '', '100', '1500', '', 'train', 'XX', 'H', '10'),
  ]
  with open(path / 'metadata.csv', 'w', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(COLUMNS)
    writer.writerows(rows)
  return len(rows)


def test_trace_names_parse_buckets():
  assert seisbench.parse_trace_name('bucket3$0,:3,:12000') == ('bucket3', (0, slice(None, 3), slice(None, 12000)))
  assert seisbench.parse_trace_name('bucket3$7,1:3,10:') == ('bucket3', (7, slice(1, 3), slice(10, None)))
  assert seisbench.parse_trace_name('plain_name') == ('plain_name', ())


def test_seisbench_dataset_round_trip(tmp_path):
  n_rows = _write_dataset(tmp_path)
  records, rejected = seisbench.read_dataset(tmp_path)
  assert len(records) + len(rejected) == n_rows
  assert list(records.record_ids) == ['bucket0$0,:3,:12000', 'bucket0$1,:3,:12000', 'single']
  assert list(records.labels) == [0, 1, 1]
  assert list(records.extra['split']) == ['train', 'test', 'dev']
  assert list(records.event_types) == ['earthquake', 'explosion', 'quarry blast']
  waveforms = np.asarray(records.waveforms)
  assert waveforms.shape == (3, 10000, 3) and np.all(np.isfinite(waveforms))
  # E, N, Z on disk -> Z, N, E; the flat Z is zero-filled and not listed as present.
  assert np.all(waveforms[:, :, 0] == 0) and set(records.extra['channels_present']) == {'NE'}
  np.testing.assert_allclose(waveforms[:, :, 2].std(axis=1), 1, atol=1e-3)
  # The window starts at the P sample, where the burst in E begins.
  assert np.all(waveforms[:, :100, 2].std(axis=1) > 5 * waveforms[:, -2000:, 2].std(axis=1))
  assert records.extra['padded_s'][2] == '0.00' and records.extra['sampling_rate_in'][2] == '50'
  reasons = [(line['record'], line['reason']) for line in rejected]
  assert [r[0] for r in reasons] == ['bucket0$2,:3,:12000', 'bucket0$3,:3,:12000', 'bucket0$4,:3,:12000',
                                      'bucket0$5,:3,:12000', 'missing$0,:3,:12000']
  for (_, reason), expected in zip(reasons, ('1 NaN/inf samples', "'noise'", 'no P arrival',
                                             'distance 900 km > 200 km', "'missing' not in waveforms.hdf5")):
    assert expected in reason


def test_seisbench_split_filter_and_missing_files(tmp_path):
  _write_dataset(tmp_path)
  records, rejected = seisbench.read_dataset(tmp_path, split='test')
  assert list(records.extra['split']) == ['test'] and len(rejected) == 1
  with pytest.raises(FileNotFoundError, match='metadata.csv'):
    seisbench.read_dataset(tmp_path / 'nowhere')
