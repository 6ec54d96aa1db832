"""experiments.prepare on all cores and on a joined Dask cluster: the same set as in one process.

The binary runs in one subprocess over several argument lists (``prepare_cases.py``):
its flags are process-wide, and other test modules define flags of the same names.
"""

import contextlib
import csv
import json
import logging
import os
import pathlib
import pickle
import shutil
import subprocess
import sys
import time

import distributed
import numpy as np
import pytest

from ganet_jax.data import ingest
from ganet_jax.data import prepare as prepare_lib
from ganet_jax.data import prepare_settings
from ganet_jax.data import prepare_shards
from ganet_jax.data import seisbench
from ganet_jax.data import shards
from ganet_jax.data.records import load_prepared
from ganet_jax.data.records_table import read_records_table

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope='module')
def pnw_input(shared_data, tmp_path_factory):
  """12 pnw records spread over three partitions of 4, with a repeated row, a copy of a file under
  another name (the same recording) in a later partition than its original, and a missing file."""
  folder = tmp_path_factory.mktemp('pnw_input')
  with open(shared_data / 'pnw' / 'labels.csv', newline='') as f:
    reader = csv.DictReader(f)
    rows = list(reader)[::70][:9]
  (folder / 'waveforms').mkdir()
  for row in rows:
    shutil.copy(shared_data / 'pnw' / row['file'], folder / row['file'])
  copy = dict(rows[1], file=rows[1]['file'].replace('.mseed', '.copy.mseed'))
  shutil.copy(folder / rows[1]['file'], folder / copy['file'])
  missing = dict(rows[2], file='waveforms/absent.mseed')
  table = rows[:5] + [rows[0], copy, missing] + rows[5:]
  with open(folder / 'labels.csv', 'w', newline='') as f:
    writer = csv.DictWriter(f, fieldnames=reader.fieldnames)
    writer.writeheader()
    writer.writerows(table)
  return folder


def _assert_same_set(expected, actual):
  for name in ('manifest.csv', 'rejected.csv', 'preprocess.json'):
    assert (actual / name).read_bytes() == (expected / name).read_bytes(), name
  np.testing.assert_array_equal(np.asarray(load_prepared(actual).waveforms[:]),
                                np.asarray(load_prepared(expected).waveforms[:]))


@pytest.fixture(scope='module')
def joined_cluster():
  """A running scheduler with one worker, standing for one started with dask scheduler / dask worker
  (over TCP, so the binary's process reaches it)."""
  with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, protocol='tcp://',
                                host='127.0.0.1', dashboard_address=None,
                                scheduler_kwargs={'dashboard_address': '127.0.0.1:0'},
                                silence_logs=logging.ERROR) as cluster:
    yield cluster


CLUSTER_REFUSALS = {
    'no_workers': (['--workers=0'], '--workers=0: must be >= 1'),
    'two_ways': (['--workers=2', '--scheduler=tcp://127.0.0.1:1'], '--workers and --scheduler: give one way'),
    'no_file': (['--scheduler_file=/nonexistent/scheduler.json'],
                '--scheduler_file=/nonexistent/scheduler.json: not found'),
    'no_partition': (['--partition_size=0'], '--partition_size=0: must be >= 1'),
}


@pytest.fixture(scope='module')
def runs(pnw_input, joined_cluster, tmp_path_factory):
  """experiments.prepare over pnw_input: in one process, on 2 local workers, on the joined cluster by
  address and by scheduler file, and with each refused cluster flag; {name: (result, output folder)}."""
  folder = tmp_path_factory.mktemp('runs')
  # what dask scheduler --scheduler-file writes, as far as a client reads it
  (folder / 'scheduler.json').write_text(json.dumps({'type': 'Scheduler',
                                                     'address': joined_cluster.scheduler_address}))
  extra = {'one_process': [],  # 12 records, fewer than a partition's 256: prepared in the binary's process
           'two_workers': ['--workers=2', '--partition_size=4'],
           'by_address': [f'--scheduler={joined_cluster.scheduler_address}', '--partition_size=5'],
           # one partition, still sent to the cluster it was asked to join
           'by_file': [f'--scheduler_file={folder / "scheduler.json"}', '--partition_size=12'],
           **{name: args for name, (args, _) in CLUSTER_REFUSALS.items()}}
  cases = [[name, [f'--input={pnw_input}', '--records=labels.csv', f'--output={folder / name}', '--noprogress',
                   *args]] for name, args in extra.items()]
  (folder / 'cases.json').write_text(json.dumps(cases))
  subprocess.run([sys.executable, str(ROOT / 'tests' / 'prepare_cases.py'), str(folder / 'cases.json'),
                  str(folder / 'results.json')], cwd=ROOT, env={**os.environ, 'PYTHONPATH': str(ROOT)},
                 check=True, timeout=600)
  results = json.loads((folder / 'results.json').read_text())
  return {name: (results[name], folder / name) for name in extra}


def test_the_reference_set_has_each_kind_of_cross_record_rejection(runs):
  result, output = runs['one_process']
  assert result['rc'] == 0 and 'partitions' not in result['stdout'], result
  with open(output / 'rejected.csv', newline='') as f:
    reasons = [row['reason'] for row in csv.DictReader(f)]
  assert any(r.startswith('duplicate: the same file(s)') for r in reasons)
  assert any(r.startswith('duplicate record_id') for r in reasons)
  assert any('file not found' in r for r in reasons)
  assert len(load_prepared(output)) + len(reasons) == 12


def test_two_local_workers_prepare_the_same_set(runs):
  result, output = runs['two_workers']
  assert result['rc'] == 0, result
  assert 'preparing 3 partitions of up to 4 records on 2 workers' in result['stdout']
  assert 'input 12: accepted' in result['stdout']
  _assert_same_set(runs['one_process'][1], output)


def test_a_joined_scheduler_prepares_the_same_set(runs, joined_cluster):
  result, output = runs['by_address']
  assert result['rc'] == 0, result
  assert f'on 1 workers, 2 threads (scheduler {joined_cluster.scheduler_address})' in result['stdout']
  _assert_same_set(runs['one_process'][1], output)
  result, output = runs['by_file']
  assert result['rc'] == 0, result
  assert 'preparing 1 partitions of up to 12 records' in result['stdout']
  _assert_same_set(runs['one_process'][1], output)


@pytest.mark.parametrize('name', sorted(CLUSTER_REFUSALS))
def test_cluster_flags_are_checked_before_any_record(runs, name):
  result, output = runs[name]
  assert result['rc'] == 1 and CLUSTER_REFUSALS[name][1] in result['message'], result
  assert not output.exists()


def _shards_of(stage, manifests):
  """The records and rejections of ``stage``'s shards, whose manifests' columns are ``manifests``, as one set."""
  shards.write_index(stage, range(len(manifests)), None, manifests=manifests)
  return load_prepared(stage), prepare_lib.read_rejections(stage)


def test_partitions_prepared_on_a_cluster_are_merged_in_input_order_as_in_one_process(pnw_input, joined_cluster,
                                                                                     tmp_path):
  records = read_records_table(pnw_input / 'labels.csv')
  options = ingest.PrepareOptions()
  expected, expected_rejected = ingest.prepare_or_reject(records, options)
  calls = []
  with distributed.Client(joined_cluster) as client:
    manifests = prepare_shards.write_input_shards(tmp_path, records, options, settings=None, partition_size=3,
                                                  client=client, progress=lambda *counts: calls.append(counts))
  merged, rejected = _shards_of(tmp_path, manifests)
  assert [dict(line) for line in rejected] == expected_rejected
  np.testing.assert_array_equal(merged.record_ids, [p.record_id for p in expected])
  np.testing.assert_array_equal(np.asarray(merged.waveforms[:]), np.stack([p.window for p in expected]))
  done = [done for done, _, _ in calls]  # each record counted once, in input order, as in one process
  assert sorted(set(done)) == list(range(1, 13)) and done == sorted(done)
  assert calls[-1] == (12, len(expected), len(expected_rejected))


@pytest.fixture(scope='module')
def seisbench_set(tmp_path_factory):
  """A chunked SeisBench set in PNW's layout (two chunks of 12 traces, five source types) whose first
  chunk lists its first trace again at its end, in another partition."""
  from ganet_jax.data import seisbench_writer
  folder = tmp_path_factory.mktemp('seisbench_set')
  chunks = seisbench_writer.write_synthetic_set(folder, 24, chunks=2, bucket_size=5, seed=3)
  metadata = folder / f'metadata{chunks[0]}.csv'
  lines = metadata.read_text().splitlines(keepends=True)
  metadata.write_text(''.join(lines + [lines[1]]))
  return folder


def _prepare_seisbench(folder, output, **settings):
  """``data.prepare.prepare`` of a SeisBench set, surface events mapped; its printed lines."""
  lines = []
  prepare_lib.prepare([str(folder)], [], [], output, prepare_lib.PrepareRequest(
      format='seisbench', event_type_map='surface event=1', **settings), log=lines.append)
  return '\n'.join(lines)


def test_a_chunked_seisbench_set_read_on_a_cluster_is_the_set_read_in_one_process(seisbench_set, joined_cluster,
                                                                                   tmp_path):
  read = seisbench.ReadOptions(event_type_map={'surface event': '1'})
  expected, expected_rejected = seisbench.read_dataset(seisbench_set, event_type_map=read.event_type_map)
  assert any(line['reason'].startswith('duplicate: trace') for line in expected_rejected)
  calls = []
  with distributed.Client(joined_cluster) as client:
    manifests = prepare_shards.write_seisbench_shards(
        tmp_path, seisbench_set, read, seisbench.partitions(seisbench_set, None, 5), settings=None, client=client,
        progress=lambda *counts: calls.append(counts))
  records, rejected = _shards_of(tmp_path, manifests)
  assert [dict(line) for line in rejected] == expected_rejected
  np.testing.assert_array_equal(np.asarray(records.waveforms[:]), expected.waveforms)
  np.testing.assert_array_equal(records.record_ids, expected.record_ids)
  np.testing.assert_array_equal(records.labels, expected.labels)
  done = [done for done, _, _ in calls]
  assert sorted(set(done)) == list(range(1, 26)) and done == sorted(done)


def test_an_interrupt_between_partitions_cancels_the_queued_ones_while_the_cluster_is_there(seisbench_set,
                                                                                              joined_cluster, tmp_path):
  read = seisbench.ReadOptions(event_type_map={'surface event': '1'})

  def interrupted(*counts):
    raise KeyboardInterrupt
  with distributed.Client(joined_cluster) as client:
    with pytest.raises(KeyboardInterrupt) as stopped:  # its traceback keeps the caller's frame alive
      prepare_shards.write_seisbench_shards(tmp_path, seisbench_set, read, seisbench.partitions(seisbench_set, None, 5),
                                            settings=None, client=client, progress=interrupted)
    held = lambda dask_scheduler: [key for key in dask_scheduler.tasks if str(key).startswith('seisbench-')]
    deadline = time.monotonic() + 10
    while client.run_on_scheduler(held) and time.monotonic() < deadline:
      time.sleep(0.05)
    assert not client.run_on_scheduler(held), stopped  # released before the client closes, not on a closed one


def test_a_worker_writes_its_partition_as_a_shard_and_sends_back_its_keys_counts_and_manifest(seisbench_set,
                                                                                             tmp_path):
  read = seisbench.ReadOptions(event_type_map={'surface event': '1'})
  part = seisbench.partitions(seisbench_set, None, 5)[0]
  settings = prepare_settings.settings(ingest.PrepareOptions())
  written = prepare_shards.read_partition((0, part), str(seisbench_set), read, str(tmp_path), settings, 'pnw')
  plain = seisbench.read_partition(seisbench_set, part, read)
  accepted = [row for row in plain if row.record]
  assert pathlib.Path(written.folder).parent == tmp_path / prepare_shards.SPOOL_FOLDER
  assert len(pickle.dumps(written._replace(manifest=None))) < 2000  # no windows, no records: keys and counts
  assert (written.records, written.rejected) == (len(accepted), len(plain) - len(accepted))
  assert written.counts == np.cumsum([row.record is not None for row in plain]).tolist()
  assert written.keys == [[row.trace, row.chunk, row.row] for row in plain]
  shard = load_prepared(pathlib.Path(written.folder) / shards.shard_name(0))
  np.testing.assert_array_equal(shard.waveforms, np.stack([row.record.window for row in accepted]))
  np.testing.assert_array_equal(shard.record_ids, [row.record.record_id for row in accepted])
  assert set(shard.sources) == {'pnw'} and shard.preprocessing == settings
  manifest = pathlib.Path(written.folder) / shards.shard_name(0) / 'manifest.csv'
  with open(manifest, newline='') as f:
    rows = list(csv.DictReader(f))
  assert {name: list(values) for name, values in written.manifest.items()} == {
      name: [row[name] for row in rows] for name in rows[0]}  # as a reader of the file sees it


def test_spooled_windows_are_taken_whole_or_copied_for_the_records_kept(seisbench_set, tmp_path):
  read = seisbench.ReadOptions(event_type_map={'surface event': '1'})
  rows = seisbench.read_partition(seisbench_set, seisbench.partitions(seisbench_set, None, 5)[0], read)
  rows, spooled = prepare_shards.spool(rows, str(tmp_path), 0, lambda row: row.record,
                                       lambda row, record: row._replace(record=record))
  assert all(row.record is None or row.record.window is None for row in rows)
  accepted = [row.record for row in rows if row.record]
  records, arrays = spooled.record_set(accepted, accepted)
  assert arrays == {'waveforms.npy': spooled.windows}  # every record kept: the shard takes the file as it is
  records, arrays = spooled.record_set(accepted[1:], accepted)
  assert arrays == {}  # one dropped (a duplicate of an earlier partition): the kept rows are copied
  np.testing.assert_array_equal(records.waveforms, np.load(spooled.windows)[1:])


def test_prepare_of_a_seisbench_set_does_not_depend_on_its_partitions(seisbench_set, joined_cluster, tmp_path):
  for name, size in (('fives', 5), ('chunks', 100)):
    printed = _prepare_seisbench(seisbench_set, tmp_path / name, scheduler=joined_cluster.scheduler_address,
                                 partition_size=size)
    assert 'input 25: accepted 24, rejected 1' in printed  # the repeated trace
  assert 'preparing 2 partitions of up to 100 records' in printed  # one per chunk
  _assert_same_set(tmp_path / 'fives', tmp_path / 'chunks')
  printed = _prepare_seisbench(seisbench_set, tmp_path / 'here')  # 25 rows, fewer than a partition's 256
  assert 'partitions' not in printed and 'input 25: accepted 24, rejected 1' in printed
  _assert_same_set(tmp_path / 'fives', tmp_path / 'here')


def _folder_bytes(folder):
  """{relative path: bytes} of every file under ``folder``."""
  return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob('*')) if p.is_file()}


def _interrupted_in(monkeypatch, module, name, call):
  """``module.name`` counting its calls and raising KeyboardInterrupt once, at call number ``call``; the
  partitions are prepared in this process, where the counting function runs."""
  original, calls, raised = getattr(module, name), [], []
  monkeypatch.setattr(prepare_lib, 'cluster_for', lambda *args, **kwargs: contextlib.nullcontext())

  def counted(*args, **kwargs):
    calls.append(args)
    if len(calls) == call and not raised:
      raised.append(call)
      raise KeyboardInterrupt
    return original(*args, **kwargs)
  monkeypatch.setattr(module, name, counted)
  return calls


def test_a_killed_seisbench_prepare_resumes_with_its_unfinished_partitions_only(seisbench_set, tmp_path,
                                                                              monkeypatch):
  settings = dict(partition_size=5, random_split=('0.5', '0.5'))
  _prepare_seisbench(seisbench_set, tmp_path / 'whole', **settings)
  # 13 + 12 rows in partitions of 5, 5, 3 | 5, 5, 2 rows; killed reading the 3rd, whose last row repeats the
  # first trace, in the finished 1st
  calls = _interrupted_in(monkeypatch, seisbench, 'read_partition', 3)
  with pytest.raises(KeyboardInterrupt):
    _prepare_seisbench(seisbench_set, tmp_path / 'resumed', **settings)
  assert not (tmp_path / 'resumed').exists()
  calls.clear()
  printed = _prepare_seisbench(seisbench_set, tmp_path / 'resumed', **settings)
  first, second = seisbench.select_chunks(seisbench_set)
  assert [(args[1].chunk, args[1].start) for args in calls] == [(first, 10), (second, 0), (second, 5), (second, 10)]
  assert 'input 25: accepted 24, rejected 1' in printed  # the repeat, rejected
  assert _folder_bytes(tmp_path / 'resumed') == _folder_bytes(tmp_path / 'whole')
  assert set(load_prepared(tmp_path / 'resumed').extra['split']) == {'train', 'test'}


def test_a_killed_prepare_resumes_and_still_rejects_a_repeat_of_a_finished_partition(pnw_input, tmp_path,
                                                                                     monkeypatch):
  request = prepare_lib.PrepareRequest(partition_size=4)
  prepare = lambda name: prepare_lib.prepare([str(pnw_input)], ['labels.csv'], [], tmp_path / name, request,
                                             log=lambda line: None)
  expected = prepare('whole')
  # killed in the 2nd partition (its 5th record prepared, the copy): partition 0 is finished, and the copy
  # of its second recording must still be rejected on the rerun
  calls = _interrupted_in(monkeypatch, ingest, 'prepare_outcome', 5)
  with pytest.raises(KeyboardInterrupt):
    prepare('resumed')
  calls.clear()
  counts = prepare('resumed')
  assert len(calls) == 12 - 4 - 1  # partitions 1 and 2, but the repeated row (never prepared)
  assert _folder_bytes(tmp_path / 'resumed') == _folder_bytes(tmp_path / 'whole')
  assert 'duplicate record_id' in (tmp_path / 'resumed' / 'rejected.csv').read_text()
  assert counts == expected


def test_a_rerun_with_other_settings_is_refused_naming_them_or_discards_with_overwrite(pnw_input, tmp_path,
                                                                                     monkeypatch):
  calls = _interrupted_in(monkeypatch, ingest, 'prepare_outcome', 2)
  run = lambda **settings: prepare_lib.prepare([str(pnw_input)], ['labels.csv'], [], tmp_path / 'out',
                                               prepare_lib.PrepareRequest(**{"partition_size": 4, **settings}),
                                               log=lambda line: None)
  with pytest.raises(KeyboardInterrupt):
    run()
  with pytest.raises(ValueError, match=r'an unfinished preparation with other settings .*'
                                       r'request.partition_size: 4 -> 3.*--overwrite to discard it'):
    run(partition_size=3)
  calls.clear()
  counts = run(overwrite=True, sta_lta_threshold=4.0)
  assert len(calls) == 11 and counts['accepted'] + counts['rejected'] == 12  # all but the repeated row again
