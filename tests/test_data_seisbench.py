"""Tiny datasets in the SeisBench format (unchunked, chunked, bucketed), written with h5py and read back."""

import csv
import dataclasses
import pickle

import h5py
import numpy as np
import pytest

from ganet_jax.data import seisbench
from ganet_jax.data import seisbench_writer
from ganet_jax.data.preprocess import PreprocessConfig

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


# Chunked and bucketed sets as SeisBench publishes them (PNW's layout), small: 10 s windows.
SHORT = PreprocessConfig(window_s=10.0)
PNW_FORMAT = {'component_order': 'ENZ', 'dimension_order': 'CW', 'sampling_rate': 100.0}


def _rows(n, chunk, **columns):
  return [{'source_id': f'{chunk}ev{i}', 'source_origin_time': f'2020-01-{i + 1:02d}T00:00:00',
           'source_type': 'earthquake', 'trace_P_arrival_sample': '500', 'station_code': f'S{i}', **columns}
          for i in range(n)]


def _traces(n, seed, samples=2000, channels=3):
  rng = np.random.default_rng(seed)
  return [np.stack([_burst(rng, samples, 500, 100.0) for _ in range(channels)]).astype(np.float32)
          for _ in range(n)]


def _chunked_set(path, chunks=('_a', '_b'), listed=True, n=3):
  """Chunks of ``n`` bucketed traces each (rates from data_format only); returns {chunk: traces}."""
  written = {}
  for number, chunk in enumerate(chunks):
    written[chunk] = _traces(n, number)
    seisbench_writer.write_chunk(path, chunk, _rows(n, chunk), written[chunk], bucket_size=2, data_format=PNW_FORMAT)
  if listed:
    seisbench_writer.write_chunks_file(path, chunks)
  return written


def test_a_chunked_set_is_read_whole_in_chunk_order(tmp_path):
  written = _chunked_set(tmp_path)
  records, rejected = seisbench.read_dataset(tmp_path, config=SHORT)
  assert not rejected
  assert list(records.record_ids) == ['_a/bucket0$0,:3,:2000', '_a/bucket0$1,:3,:2000', '_a/bucket1$0,:3,:2000',
                                      '_b/bucket0$0,:3,:2000', '_b/bucket0$1,:3,:2000', '_b/bucket1$0,:3,:2000']
  assert list(records.extra['chunk']) == ['_a'] * 3 + ['_b'] * 3
  # The rate comes from data_format (the rows have none); E, N, Z on disk -> Z, N, E.
  assert set(records.extra['sampling_rate_in']) == {'100'}
  first = written['_b'][2]
  expected, _, _ = seisbench.window_from_array(first[[2, 1, 0]].astype(np.float64), 'ZNE', 100.0, 500, SHORT)
  np.testing.assert_array_equal(records.waveforms[5], expected)


def test_chunks_are_found_by_name_and_read_one_by_one(tmp_path):
  _chunked_set(tmp_path, listed=False)
  assert seisbench.available_chunks(tmp_path) == ['_a', '_b']
  records, _ = seisbench.read_dataset(tmp_path, config=SHORT, chunks=['_b'])
  assert set(records.extra['chunk']) == {'_b'} and len(records) == 3
  with pytest.raises(ValueError, match=r"no chunk '_c' \(its chunks: '_a', '_b'\)"):
    seisbench.read_dataset(tmp_path, config=SHORT, chunks=['_b', '_c'])


def test_the_chunks_file_decides_which_chunks_exist(tmp_path):
  _chunked_set(tmp_path, chunks=('_a', '_b', '_c'), listed=False)
  seisbench_writer.write_chunks_file(tmp_path, ['_c', '_a'])
  records, _ = seisbench.read_dataset(tmp_path, config=SHORT)
  assert list(dict.fromkeys(records.extra['chunk'])) == ['_c', '_a']
  seisbench_writer.write_chunks_file(tmp_path, ['_a', '_d'])
  with pytest.raises(FileNotFoundError, match=r"metadata_d.csv: missing; chunk '_d'"):
    seisbench.read_dataset(tmp_path, config=SHORT)


def test_a_bucketed_name_with_spaces_is_the_same_trace(tmp_path):
  traces = _traces(2, 0)
  rows = _rows(3, '')
  rows[2]['trace_name'] = 'bucket0$1, :3, :2000'  # row 1's trace, spelled with spaces
  names = seisbench_writer.write_chunk(tmp_path, '', rows, traces + traces[1:], bucket_size=2,
                                       data_format=PNW_FORMAT)
  assert names[1:] == ['bucket0$1,:3,:2000', 'bucket0$1, :3, :2000']
  for rows_per_partition in (1, 100):  # a repeat is found within one partition and across partitions
    records, rejected = seisbench.read_dataset(tmp_path, config=SHORT, rows_per_partition=rows_per_partition)
    assert len(records) == 2 and len(rejected) == 1
    assert rejected[0]['reason'] == 'duplicate: trace bucket0$1,:3,:2000 is also metadata.csv row 1'
  # Read on its own, the spaced name addresses the same samples.
  layout_file = h5py.File(tmp_path / 'waveforms.hdf5', 'r')
  with layout_file:
    layout = seisbench.ChunkLayout.of(layout_file, tmp_path / 'waveforms.hdf5')
    np.testing.assert_array_equal(layout.samples('bucket0$1, :3, :2000'), layout.samples('bucket0$1,:3,:2000'))


def test_pnw_source_types(tmp_path):
  types = ('earthquake', 'explosion', 'surface event', 'sonic boom', 'thunder')
  rows = [{**row, 'source_type': kind} for row, kind in zip(_rows(5, ''), types)]
  seisbench_writer.write_chunk(tmp_path, '', rows, _traces(5, 1), bucket_size=5, data_format=PNW_FORMAT)
  records, rejected = seisbench.read_dataset(tmp_path, config=SHORT)
  assert list(records.event_types) == ['earthquake', 'explosion'] and list(records.labels) == [0, 1]
  for line, kind in zip(rejected, types[2:]):
    assert f"event type '{kind}' is neither tectonic" in line['reason'] and '--event_type_map' in line['reason']
  mapped, rejected = seisbench.read_dataset(
      tmp_path, config=SHORT, event_type_map={'surface event': '1', 'sonic boom': '1', 'thunder': 'explosion'})
  assert not rejected and list(mapped.labels) == [0, 1, 1, 1, 1]


def test_a_row_without_origin_time_is_rejected_not_dated_1970(tmp_path):
  rows = _rows(3, '')
  rows[1]['source_origin_time'] = ''
  rows[2]['source_origin_time'] = 'yesterday'
  seisbench_writer.write_chunk(tmp_path, '', rows, _traces(3, 2), data_format=PNW_FORMAT)
  records, rejected = seisbench.read_dataset(tmp_path, config=SHORT)
  assert list(records.origin_times.astype(str)) == ['2020-01-01T00:00:00.000']
  assert 'no source_origin_time' in rejected[0]['reason']
  assert "source_origin_time 'yesterday' is not a time" in rejected[1]['reason']


def test_channels_last_and_per_row_rates_and_component_orders(tmp_path):
  traces = _traces(2, 3, samples=1000, channels=2)
  rows = _rows(2, '', trace_sampling_rate_hz='50', trace_P_arrival_sample='250')
  rows[1]['trace_component_order'] = 'NZ'
  seisbench_writer.write_chunk(tmp_path, '', rows, [t.T for t in traces],
                               data_format={'component_order': 'ZN', 'dimension_order': 'WC', 'sampling_rate': 100})
  records, rejected = seisbench.read_dataset(tmp_path, config=SHORT)
  assert not rejected and list(records.extra['sampling_rate_in']) == ['50', '50']
  assert list(records.extra['channels_present']) == ['ZN', 'ZN']
  # Row 1 declares its own order: its Z is the file's second component.
  expected, _, _ = seisbench.window_from_array(traces[1][[1, 0]].astype(np.float64), 'ZN', 50.0, 250, SHORT)
  np.testing.assert_array_equal(records.waveforms[1], expected)


def test_a_partition_is_read_on_its_own_from_pickled_arguments(tmp_path):
  _chunked_set(tmp_path, n=5)
  # A quoted field across lines must not shift the rows that follow it.
  with open(tmp_path / 'metadata_b.csv', newline='') as f:
    rows = list(csv.DictReader(f))
  rows[1]['station_code'] = 'line one\nline two'
  with open(tmp_path / 'metadata_b.csv', 'w', newline='') as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
  whole, _ = seisbench.read_dataset(tmp_path, config=SHORT)
  parts = seisbench.partitions(tmp_path, rows_per_partition=2)
  assert [(p.chunk, p.start, p.stop) for p in parts] == [
      ('_a', 0, 2), ('_a', 2, 4), ('_a', 4, 5), ('_b', 0, 2), ('_b', 2, 4), ('_b', 4, 5)]
  options = seisbench.ReadOptions(config=SHORT)
  # What a worker process receives and sends back goes through pickle; read the partitions last first.
  shipped = pickle.loads(pickle.dumps([(tmp_path, part, options) for part in parts]))
  results = pickle.loads(pickle.dumps([seisbench.read_partition(*args) for args in shipped[::-1]]))[::-1]
  prepared, rejected = seisbench.merge_rows(row for result in results for row in result)
  assert not rejected and [p.record_id for p in prepared] == list(whole.record_ids)
  assert prepared[6].extra['station'] == 'line one\nline two' and prepared[7].extra['station'] == 'S2'
  np.testing.assert_array_equal(np.stack([p.window for p in prepared]), whole.waveforms)
  # Without the byte offset the partition is found by counting rows: the same rows.
  unseeked = dataclasses.replace(parts[4], offset=None)
  assert ([r.row for r in seisbench.read_partition(tmp_path, unseeked, options)]
          == [r.row for r in results[4]] == [2, 3])


def test_windows_can_be_spooled_to_disk(tmp_path):
  _chunked_set(tmp_path / 'set')
  in_memory, _ = seisbench.read_dataset(tmp_path / 'set', config=SHORT)
  spooled, _ = seisbench.read_dataset(tmp_path / 'set', config=SHORT, spool_path=tmp_path / 'spool')
  assert isinstance(spooled.waveforms, np.memmap) and str(spooled.waveforms.filename) == str(tmp_path / 'spool')
  np.testing.assert_array_equal(spooled.waveforms, in_memory.waveforms)
  assert (tmp_path / 'spool').stat().st_size == in_memory.waveforms.nbytes


def test_window_rejections_keep_their_reasons_and_order(tmp_path):
  rng = np.random.default_rng(7)
  def trace(samples=2000, channels=3):
    return (rng.normal(size=(channels, samples)).cumsum(axis=1) + 100).astype(np.float32)
  bad = trace()
  bad[1, 10], bad[2, 1999] = np.nan, np.inf
  cases = [('500', '100', None, trace()), ('1300', '100', None, trace()), ('2500', '100', None, trace()),
           ('50', '10', None, trace(200)), ('500', '100', None, bad), ('500', '100', 'XYZ', trace()),
           ('500', '100', 'ABC', trace()), ('650', '50', None, trace(1000)), ('-3', '100', None, trace()),
           ('1150', '100', None, trace()), ('550', '50', None, trace(1000))]
  rows = [{'source_origin_time': f'2020-01-{i + 1:02d}T00:00:00', 'source_type': 'earthquake', 'trace_P_arrival_sample': p,
           'trace_sampling_rate_hz': rate, **({'trace_component_order': order} if order else {})}
          for i, (p, rate, order, _) in enumerate(cases)]
  seisbench_writer.write_chunk(tmp_path, '', rows, [case[3] for case in cases], data_format={'component_order': 'ENZ'})
  config = PreprocessConfig(window_s=10.0, max_pad_s=2.0)
  records, rejected = seisbench.read_dataset(tmp_path, config=config)
  short = 'record ends 7.0 s after the P onset; the window needs 10 s (zero-padding allowed up to 2 s, --max_pad_s)'
  assert [(line['record'], line['reason']) for line in rejected] == [
      ('trace1', short),
      ('trace2', 'P onset 1970-01-01T00:00:25.000000Z outside the record (1970-01-01T00:00:00.000000Z + 20.0 s)'),
      ('trace3', '...: sampling rate 10 Hz < 20 Hz (--min_sampling_rate); not upsampled to 100 Hz'),
      ('trace4', '2 NaN/inf samples'),
      ('trace6', "no usable channel in component order 'ABC'"),
      ('trace7', short),
      ('trace8', 'P onset 1969-12-31T23:59:59.970000Z outside the record (1970-01-01T00:00:00.000000Z + 20.0 s)')]
  assert list(records.record_ids) == ['trace0', 'trace5', 'trace9', 'trace10']
  assert list(records.extra['channels_present']) == ['ZNE', 'Z', 'ZNE', 'ZNE']
  assert list(records.extra['padded_s']) == ['0.00', '0.00', '1.50', '1.01']
  # Stored as float32, cut before conversion: the windows of the same samples given as float64.
  for record, index, order in ((0, 0, 'ENZ'), (1, 5, 'XYZ'), (2, 9, 'ENZ'), (3, 10, 'ENZ')):
    p, rate, _, samples = cases[index]
    expected, _, _ = seisbench.window_from_array(samples.astype(np.float64), order, float(rate), float(p), config)
    np.testing.assert_array_equal(records.waveforms[record], expected)
