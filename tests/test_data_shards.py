"""Sharded prepared sets: written by parts, resumed after a kill, opened as one RecordSet; RecordArray indexing."""

import dataclasses
import json
import pickle

import numpy as np
import pytest

from ganet_jax.data import shards
from ganet_jax.data.record_array import RecordArray, take_rows
from ganet_jax.data.records import RecordSet, load_prepared, save_prepared


def _records(n=11, samples=30, noise_samples=20, seed=0):
  rng = np.random.default_rng(seed)
  labels = np.arange(n) % 2
  return RecordSet(
      waveforms=rng.normal(size=(n, samples, 3)).astype(np.float32), labels=labels.astype(np.int32),
      event_ids=np.array([f'e{i // 2}' for i in range(n)]),
      origin_times=np.array([f'20{10 + i}-01-01T00:00:00.000' for i in range(n)], 'datetime64[ms]'),
      event_types=np.where(labels == 0, 'earthquake', 'explosion'), record_ids=np.array([f'r{i}' for i in range(n)]),
      extra={'station': np.array([f'S{i % 3}' for i in range(n)]), 'network': np.array(['XX'] * n)},
      preprocessing={'preprocess': {'window_s': samples / 10, 'sampling_rate': 10.0, 'noise_s': noise_samples / 10}},
      noise=rng.normal(size=(n, noise_samples, 3)).astype(np.float32))


def _assert_same(a: RecordSet, b: RecordSet):
  np.testing.assert_array_equal(np.asarray(a.waveforms), np.asarray(b.waveforms))
  np.testing.assert_array_equal(np.asarray(a.noise), np.asarray(b.noise))
  for column in ('labels', 'event_ids', 'origin_times', 'event_types', 'record_ids'):
    np.testing.assert_array_equal(getattr(a, column), getattr(b, column))
  assert a.extra.keys() == b.extra.keys()
  for name in a.extra:
    np.testing.assert_array_equal(a.extra[name], b.extra[name])
  assert a.preprocessing == b.preprocessing


def test_a_sharded_folder_opens_as_the_single_file_folder(tmp_path):
  records = _records()
  rejected = [{'file': 'a.mseed', 'reason': 'gap'}]
  single = load_prepared(save_prepared(tmp_path / 'single', records, rejected))
  sharded = load_prepared(shards.write_sharded(tmp_path / 'sharded', records, rejected, shard_records=4))
  assert isinstance(sharded.waveforms, RecordArray) and len(sharded.waveforms.parts) == 3
  assert isinstance(sharded.noise, RecordArray)
  _assert_same(sharded, single)
  _assert_same(sharded, records)
  assert (tmp_path / 'sharded' / 'manifest.csv').read_text() == (tmp_path / 'single' / 'manifest.csv').read_text()
  assert (tmp_path / 'sharded' / 'rejected.csv').read_text() == (tmp_path / 'single' / 'rejected.csv').read_text()
  index = json.loads((tmp_path / 'sharded' / 'shards.json').read_text())
  assert [(s['name'], s['records']) for s in index['shards']] == [('shard-00000', 4), ('shard-00001', 4),
                                                                  ('shard-00002', 3)]
  # a subset stays on disk and reads the records it names, across shards
  picked = sharded.subset([10, 0, 5, 4])
  assert isinstance(picked.waveforms, RecordArray)
  _assert_same(picked, records.subset([10, 0, 5, 4]))


def test_a_partition_with_every_record_rejected_is_a_shard_of_none(tmp_path):
  records = _records(n=6)
  settings = records.preprocessing
  shards.write_shard(tmp_path, 0, records.subset(range(3)), settings=settings)
  shards.write_shard(tmp_path, 1, None, [{'file': 'x', 'reason': 'no P pick'}], settings=settings)
  shards.write_shard(tmp_path, 2, records.subset(range(3, 6)), [{'file': 'y', 'reason': 'gap'}], settings=settings)
  shards.write_index(tmp_path, range(3), settings)
  _assert_same(load_prepared(tmp_path), records)
  assert [line.split(',')[0] for line in (tmp_path / 'rejected.csv').read_text().splitlines()] == ['file', 'x', 'y']


def test_a_killed_preparation_resumes_with_only_the_unfinished_shards(tmp_path):
  records = _records(n=12)
  settings = records.preprocessing
  parts = [records.subset(range(first, first + 3)) for first in range(0, 12, 3)]
  for number in (0, 2):
    shards.write_shard(tmp_path, number, parts[number], settings=settings)
  # killed while writing shard 1: its temporary folder is left half-written, and no index
  half = tmp_path / '.shard-00001.partial-host-123-abcdef12'
  half.mkdir()
  (half / 'waveforms.npy').write_bytes(b'\x93NUMPY half')
  # a shard of other settings is not finished either
  shards.write_shard(tmp_path, 3, parts[3], settings={'preprocess': {'other': True}})
  assert shards.finished_shards(tmp_path, settings) == {0, 2}
  with pytest.raises(FileNotFoundError, match='unfinished preparation'):
    load_prepared(tmp_path)
  with pytest.raises(ValueError, match='shard-00001, shard-00003 are not finished'):
    shards.write_index(tmp_path, range(4), settings)

  kept = {n: (tmp_path / shards.shard_name(n) / 'waveforms.npy').stat().st_mtime_ns for n in (0, 2)}
  written = []
  for number, part in enumerate(parts):
    if number not in shards.finished_shards(tmp_path, settings):
      shards.write_shard(tmp_path, number, part, settings=settings)
      written.append(number)
  shards.write_index(tmp_path, range(4), settings)
  assert written == [1, 3]
  assert {n: (tmp_path / shards.shard_name(n) / 'waveforms.npy').stat().st_mtime_ns for n in (0, 2)} == kept
  assert not half.exists() and not list(tmp_path.glob('.shard-*'))
  _assert_same(load_prepared(tmp_path), records)


def test_the_set_manifest_from_shard_columns_at_hand_is_the_one_read_from_their_files(tmp_path):
  records = _records(n=7)
  settings = records.preprocessing
  tagged = dataclasses.replace(records, extra={**records.extra, 'notes': np.array(['a, "quoted" note'] * 7)})
  shards.write_shard(tmp_path, 0, records.subset(range(3)), settings=settings)
  shards.write_shard(tmp_path, 1, None, [{'file': 'x', 'reason': 'no P pick'}], settings=settings)
  shards.write_shard(tmp_path, 2, tagged.subset(range(3, 7)), settings=settings)  # one column more
  split = {'split': np.array(['train', 'test'] * 3 + ['train'])}
  shards.write_index(tmp_path, range(3), settings, columns=split)
  from_files = (tmp_path / 'manifest.csv').read_bytes()
  manifests = [shards.table_columns(tmp_path / shards.shard_name(n) / 'manifest.csv') for n in range(3)]
  assert manifests[1] is None and list(manifests[2]['notes']) == ['a, "quoted" note'] * 4
  shards.write_index(tmp_path, range(3), settings, columns=split, manifests=manifests)
  assert (tmp_path / 'manifest.csv').read_bytes() == from_files
  opened = load_prepared(tmp_path)
  assert list(opened.extra['notes']) == [''] * 3 + ['a, "quoted" note'] * 4
  assert list(opened.extra['split']) == list(split['split'])


def test_a_shard_written_elsewhere_is_moved_in_replacing_one_of_other_settings_only(tmp_path):
  records = _records(n=6)
  settings, other = records.preprocessing, {'preprocess': {'window_s': 9}}
  spool = tmp_path / 'spool'
  shards.write_shard(tmp_path / 'set', 0, records.subset([0, 1]), settings=other)
  shards.write_shard(spool, 0, records.subset([2, 3]), settings=settings)
  shards.move_shard(spool / shards.shard_name(0), tmp_path / 'set', 0, settings)
  assert shards.finished_shards(tmp_path / 'set', settings) == {0} and not (spool / shards.shard_name(0)).exists()
  shards.write_shard(spool, 0, records.subset([4, 5]), settings=settings)  # a second try of the same partition
  shards.move_shard(spool / shards.shard_name(0), tmp_path / 'set', 0, settings)
  shards.write_index(tmp_path / 'set', [0], settings)
  assert list(load_prepared(tmp_path / 'set').record_ids) == ['r2', 'r3']  # the first one in place is kept
  assert not (spool / shards.shard_name(0)).exists() and not list((tmp_path / 'set').glob('.shard-*'))


def test_a_new_shard_takes_the_index_away_until_the_set_is_ended_again(tmp_path):
  records = _records(n=6)
  shards.write_sharded(tmp_path, records, shard_records=3)
  shards.write_shard(tmp_path, 1, records.subset([3, 4]), settings={'preprocess': {'window_s': 9}})
  assert not (tmp_path / 'shards.json').exists()
  with pytest.raises(FileNotFoundError, match='unfinished preparation'):
    load_prepared(tmp_path)


def test_a_shard_with_non_finite_samples_is_refused_and_nothing_lands(tmp_path):
  records = _records(n=4)
  records.waveforms[2, 5, 1] = np.nan
  with pytest.raises(ValueError, match=r'shard-00000: record 2 \(r2\) has NaN or inf windows'):
    shards.write_shard(tmp_path, 0, records, settings=None)
  assert list(tmp_path.iterdir()) == []


def test_an_index_that_disagrees_with_its_shards_is_named(tmp_path):
  shards.write_sharded(tmp_path, _records(n=6), shard_records=3)
  index = json.loads((tmp_path / 'shards.json').read_text())
  index['shards'][1]['records'] = 4
  (tmp_path / 'shards.json').write_text(json.dumps(index))
  with pytest.raises(ValueError, match='has 6 rows but .*shards.json lists 7 records'):
    load_prepared(tmp_path)
  index['shards'] = [{'name': 'shard-00000', 'records': 6}]
  (tmp_path / 'shards.json').write_text(json.dumps(index))
  with pytest.raises(ValueError, match=r'shard-00000/manifest.csv has 6 rows but .*shard-00000/waveforms.npy has 3'):
    load_prepared(tmp_path)
  (tmp_path / 'shards.json').write_text('{"shards": 3}')
  with pytest.raises(ValueError, match='shards.json: not an index of shards'):
    load_prepared(tmp_path)


def test_record_array_indexes_like_the_array_it_stands_for(tmp_path):
  whole = np.arange(10 * 4 * 3, dtype=np.float32).reshape(10, 4, 3)
  for number, (first, last) in enumerate([(0, 3), (3, 7), (7, 10)]):
    np.save(tmp_path / f'{number}.npy', whole[first:last])
  parts = [np.load(tmp_path / f'{number}.npy', mmap_mode='r') for number in range(3)]
  array = RecordArray(parts)
  assert (len(array), array.shape, array.dtype, array.ndim) == (10, (10, 4, 3), np.float32, 3)
  for key in (4, -1, slice(2, 9, 3), slice(None, None, -1), [9, 0, 3, 3], np.array([], int),
              np.arange(10) % 3 == 0, (5, slice(None), 0), (Ellipsis, 1), ([1, 8], 2)):
    got = array[key]
    assert isinstance(got, np.ndarray) and not isinstance(got, np.memmap)
    np.testing.assert_array_equal(got, whole[key])
  view = array.take([8, 2, 6, 0]).take([3, 0])
  np.testing.assert_array_equal(np.asarray(view), whole[[0, 8]])
  np.testing.assert_array_equal(pickle.loads(pickle.dumps(view))[:], whole[[0, 8]])
  assert len(pickle.dumps(array)) < whole.nbytes  # the files are reopened, not copied
  np.testing.assert_array_equal(take_rows(parts[1], [3, 0])[:], whole[[6, 3]])
  with pytest.raises(IndexError, match='record 10 is out of range for 10 records'):
    array[10]
  with pytest.raises(IndexError, match='record -11 is out of range'):
    array.take([0, -11])
  with pytest.raises(ValueError, match='part 1 holds float64'):
    RecordArray([parts[0], parts[1].astype(np.float64)])
