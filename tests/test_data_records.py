import os

import numpy as np
import pytest

from ganet_jax.conventions import UNLABELED, UNLABELED_TYPE
from ganet_jax.data import records as records_lib
from ganet_jax.data import RecordSet, chronological_split, event_grouped_random_split, load_prepared, save_prepared


def _records(n_events=6, per_event=3):
  rng = np.random.default_rng(0)
  events = np.repeat([f'ev{i}' for i in range(n_events)], per_event)
  years = np.repeat([2012 + i for i in range(n_events)], per_event)
  return RecordSet(
      waveforms=rng.standard_normal((len(events), 20, 3)).astype(np.float32),
      labels=np.repeat(np.arange(n_events) % 2, per_event).astype(np.int32),
      event_ids=events,
      origin_times=np.array([f'{y}-03-01T12:00:00.000' for y in years], dtype='datetime64[ms]'),
      event_types=np.where(np.repeat(np.arange(n_events) % 2, per_event) == 0, 'earthquake', 'quarry blast'),
      record_ids=np.array([f'r{i}' for i in range(len(events))]),
      extra={'station': np.array([f'S{i % per_event}' for i in range(len(events))])})


def test_roundtrip_through_disk_is_memory_mapped(tmp_path):
  records = _records()
  save_prepared(tmp_path / 'set', records, rejected=[{'file': 'a.mseed', 'reason': 'sampling rate 1 Hz < 100 Hz'}])
  loaded = load_prepared(tmp_path / 'set')
  assert isinstance(loaded.waveforms, np.memmap)
  np.testing.assert_array_equal(loaded.waveforms, records.waveforms)
  np.testing.assert_array_equal(loaded.labels, records.labels)
  np.testing.assert_array_equal(loaded.origin_times, records.origin_times)
  np.testing.assert_array_equal(loaded.extra['station'], records.extra['station'])
  assert 'sampling rate 1 Hz' in (tmp_path / 'set' / 'rejected.csv').read_text()


@pytest.mark.parametrize('in_memory', [True, False])
def test_save_array_writes_the_npy_bytes_then_flushes_and_releases_the_file(tmp_path, monkeypatch, in_memory):
  array = np.arange(2 * 5 * 3, dtype=np.float64).reshape(2, 5, 3)
  np.save(tmp_path / 'source.npy', array.astype(np.float32))
  source = array if in_memory else np.load(tmp_path / 'source.npy', mmap_mode='r')
  synced, advised = [], []
  monkeypatch.setattr(records_lib.os, 'fdatasync', lambda fd: synced.append(os.readlink(f'/proc/self/fd/{fd}')))
  monkeypatch.setattr(records_lib.os, 'posix_fadvise',
                      lambda fd, offset, length, advice: advised.append((os.readlink(f'/proc/self/fd/{fd}'), advice)))
  records_lib.save_array(tmp_path / 'out.npy', source)
  assert (tmp_path / 'out.npy').read_bytes() == (tmp_path / 'source.npy').read_bytes()
  assert synced == [str(tmp_path / 'out.npy')]
  assert advised == [(str(tmp_path / 'out.npy'), os.POSIX_FADV_DONTNEED)]


def test_load_names_missing_and_inconsistent_files(tmp_path):
  with pytest.raises(FileNotFoundError, match='waveforms.npy'):
    load_prepared(tmp_path)
  save_prepared(tmp_path / 'set', _records())
  np.save(tmp_path / 'set' / 'waveforms.npy', np.zeros((2, 20, 3), np.float32))
  with pytest.raises(ValueError, match='18 rows but .* has 2 records'):
    load_prepared(tmp_path / 'set')


def test_subset_and_misaligned_columns():
  records = _records()
  sub = records.subset([4, 0])
  assert list(sub.record_ids) == ['r4', 'r0'] and sub.waveforms.shape == (2, 20, 3)
  assert list(sub.extra['station']) == ['S1', 'S0']
  with pytest.raises(ValueError, match="'labels' has 2 rows"):
    RecordSet(records.waveforms, records.labels[:2], records.event_ids, records.origin_times,
              records.event_types, records.record_ids)


def test_sources_are_the_source_column_or_blank():
  records = _records(n_events=2, per_event=2)
  assert list(records.sources) == [''] * 4  # a set prepared from one input has no source column
  tagged = RecordSet(records.waveforms, records.labels, records.event_ids, records.origin_times, records.event_types,
                     records.record_ids, extra={'source': np.array(['pnw', 'pnw', 'eus', 'eus'])})
  assert list(tagged.sources) == ['pnw', 'pnw', 'eus', 'eus']
  assert list(tagged.subset([3, 0]).sources) == ['eus', 'pnw']


def test_bare_windows_are_unlabeled_not_tectonic(tmp_path):
  windows = np.random.default_rng(0).standard_normal((3, 20, 3)).astype(np.float32)
  records = RecordSet.unlabeled(windows)
  assert list(records.labels) == [UNLABELED] * 3 and list(records.event_types) == [UNLABELED_TYPE] * 3
  assert records.class_counts() == (0, 0)  # counted as neither class
  records = RecordSet(records.waveforms, records.labels, records.event_ids, records.origin_times,
                      records.event_types, np.array(['a', 'b', 'c']))
  assert list(load_prepared(save_prepared(tmp_path / 'set', records)).labels) == [UNLABELED] * 3


def test_chronological_split_keeps_events_whole_and_ordered():
  records = _records()
  splits = chronological_split(records, ['2015-01-01', '2017-01-01'], names=('train', 'val', 'test'))
  years = records.origin_times.astype('datetime64[Y]').astype(int) + 1970
  assert set(years[splits['train']]) == {2012, 2013, 2014}
  assert set(years[splits['val']]) == {2015, 2016}
  assert set(years[splits['test']]) == {2017}
  assert sum(len(v) for v in splits.values()) == len(records)
  with pytest.raises(ValueError, match='must increase'):
    chronological_split(records, ['2017-01-01', '2015-01-01'], names=('a', 'b', 'c'))


def test_event_with_two_origin_times_is_refused():
  records = _records()
  times = records.origin_times.copy()
  times[1] = np.datetime64('2020-01-01')
  bad = RecordSet(records.waveforms, records.labels, records.event_ids, times, records.event_types, records.record_ids)
  with pytest.raises(ValueError, match="event id 'ev0'"):
    chronological_split(bad, ['2015-01-01'])
  labels = records.labels.copy()
  labels[1] = 1 - labels[0]
  relabelled = RecordSet(records.waveforms, labels, records.event_ids, records.origin_times, records.event_types,
                         records.record_ids)
  with pytest.raises(ValueError, match="event id 'ev0'.*label"):
    chronological_split(relabelled, ['2015-01-01'])


def test_random_split_is_seeded_and_event_grouped():
  records = _records(n_events=10)
  a = event_grouped_random_split(records, [0.7, 0.3], seed=1)
  b = event_grouped_random_split(records, [0.7, 0.3], seed=1)
  c = event_grouped_random_split(records, [0.7, 0.3], seed=2)
  assert all(np.array_equal(a[k], b[k]) for k in a)
  assert any(not np.array_equal(a[k], c[k]) for k in a)
  assert not set(records.event_ids[a['train']]) & set(records.event_ids[a['test']])
  events, first = np.unique(records.event_ids, return_index=True)
  per_class = np.bincount(records.labels[first], minlength=2)  # stratified: each class's events cut alike
  assert len(set(records.event_ids[a['test']])) == sum(n - np.round(0.7 * n) for n in per_class)
