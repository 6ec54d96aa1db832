"""python -m experiments.prepare end to end: its own process on a 20-record subset of pnw, then SeisBench sets,
chunks and merged sources as command lines of one process."""

import csv
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import binary_cases
from ganet_jax.data.records import load_prepared

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_prepare_cli_on_a_pnw_subset(shared_data, tmp_path):
  with open(shared_data / 'pnw' / 'labels.csv', newline='') as f:
    reader = csv.DictReader(f)
    rows = list(reader)
  # Every 40th row: a spread of events, networks and rates (LHZ included).
  subset = rows[::40][:20]
  assert len(subset) == 20
  table = tmp_path / 'labels.csv'
  with open(table, 'w', newline='') as f:
    writer = csv.DictWriter(f, fieldnames=reader.fieldnames)
    writer.writeheader()
    writer.writerows(subset)
  output = tmp_path / 'prepared'
  result = subprocess.run(
      [sys.executable, '-m', 'experiments.prepare', f'--input={shared_data / "pnw"}', f'--records={table}',
       f'--output={output}', '--split_boundaries=2020-01-01', '--progress', '--progress_every=5'],
      cwd=ROOT, env={**os.environ, 'PYTHONPATH': str(ROOT)}, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr
  assert '20 input records from 20 files' in result.stdout
  assert 'prepare: 5/20 records (25%)' in result.stderr and 'ETA' in result.stderr  # progress
  records = load_prepared(output)
  with open(output / 'rejected.csv', newline='') as f:
    rejected = list(csv.DictReader(f))
  assert len(records) + len(rejected) == 20
  assert f'input 20: accepted {len(records)}, rejected {len(rejected)}' in result.stdout
  low_rate = [r for r in subset if float(r['sampling_rate']) < 20]
  assert low_rate and len(rejected) >= len(low_rate)
  for line in rejected:
    assert line['reason'] and line['file']
  waveforms = np.asarray(records.waveforms)
  assert waveforms.shape[1:] == (10000, 3) and np.all(np.isfinite(waveforms))
  np.testing.assert_allclose(waveforms[:, :, 0].std(axis=1), 1, atol=1e-3)
  for column in ('file', 'network', 'station', 'p_onset', 'p_method', 'distance_km', 'channels_present',
                 'sampling_rate_in', 'split'):
    assert column in records.extra
  split_of_event = {}
  for event, split in zip(records.event_ids, records.extra['split']):
    assert split_of_event.setdefault(event, split) == split
  origin = records.origin_times.astype('datetime64[ms]')
  assert np.all((records.extra['split'] == 'train') == (origin < np.datetime64('2020-01-01')))


def _subset_table(source_table, path, rows_slice, **overrides):
  with open(source_table, newline='') as f:
    reader = csv.DictReader(f)
    rows = [{**row, **overrides} for row in list(reader)[rows_slice]]
  with open(path, 'w', newline='') as f:
    writer = csv.DictWriter(f, fieldnames=reader.fieldnames)
    writer.writeheader()
    writer.writerows(rows)
  return rows


@pytest.fixture(scope='module')
def cli(shared_data, tmp_path_factory):
  """The inputs and outcomes of the command lines below, run in one process that imports the binary's libraries once.

  Each command line ends as ``python -m experiments.prepare`` would end it (tests/binary_cases.py);
  the real process, its exit status and progress lines are the pnw subset's test above.
  """
  from test_data_seisbench import _chunked_set, _write_dataset  # pytest puts tests/ on sys.path
  folder = tmp_path_factory.mktemp('cli')
  (folder / 'seisbench').mkdir()
  inputs = {'seisbench_rows': _write_dataset(folder / 'seisbench')}
  _chunked_set(folder / 'chunked', chunks=('_a', '_b', '_c'))
  inputs['pnw'] = _subset_table(shared_data / 'pnw' / 'labels.csv', folder / 'pnw.csv', slice(0, 400, 50))
  inputs['extra'] = _subset_table(shared_data / 'pnw-extra' / 'labels.csv', folder / 'extra.csv', slice(0, 400, 50))
  _subset_table(shared_data / 'pnw' / 'labels.csv', folder / 'pnw_two.csv', slice(0, 2))
  _subset_table(shared_data / 'pnw-extra' / 'labels.csv', folder / 'extra_two.csv', slice(0, 2),
                event_id='uw61348817')  # pnw's first event id, another origin time
  cases = [
      ['seisbench', [f'--input={folder / "seisbench"}', '--format=seisbench', f'--output={folder / "seisbench_set"}',
                     '--max_distance_km=1000']],
      ['chunks', [f'--input={folder / "chunked"}', '--format=seisbench', '--chunks=_c,_a', '--window_s=10',
                  f'--output={folder / "chunks_set"}']],
      ['missing_chunk', [f'--input={folder / "chunked"}', '--format=seisbench', '--chunks=_d',
                         f'--output={folder / "missing_chunk_set"}']],
      ['merged', [f'--input={shared_data / "pnw"}', f'--records={folder / "pnw.csv"}',
                  f'--input={shared_data / "pnw-extra"}', f'--records={folder / "extra.csv"}',
                  f'--output={folder / "merged_set"}', '--split_boundaries=2018-01-01']],
      ['shared_event_id', [f'--input={shared_data / "pnw"}', f'--records={folder / "pnw_two.csv"}', '--source=a',
                           f'--input={shared_data / "pnw-extra"}', f'--records={folder / "extra_two.csv"}',
                           '--source=b', f'--output={folder / "shared_event_id_set"}']],
  ]
  return folder, inputs, binary_cases.run_in_one_process({'prepare': cases}, folder)['prepare']


def _finished(result):
  assert result['rc'] == 0 and not result['traceback'], result
  return result


def test_prepare_cli_on_a_seisbench_dataset(cli):
  folder, inputs, results = cli
  result = _finished(results['seisbench'])
  n_rows = inputs['seisbench_rows']
  output = folder / 'seisbench_set'
  records = load_prepared(output)
  with open(output / 'rejected.csv', newline='') as f:
    rejected = list(csv.DictReader(f))
  assert len(records) == 4 and len(records) + len(rejected) == n_rows  # the 900 km row is now accepted
  assert list(records.extra['split']) == ['train', 'test', 'dev', 'train']
  assert f'input {n_rows}: accepted 4, rejected {n_rows - 4}' in result['stdout']
  assert 'records/s, ' not in result['stderr']  # no progress lines when stderr is not a terminal


def test_prepare_cli_reads_the_chunks_it_is_given(cli):
  folder, _, results = cli
  _finished(results['chunks'])
  records = load_prepared(folder / 'chunks_set')
  assert list(records.extra['chunk']) == ['_c'] * 3 + ['_a'] * 3
  refused = results['missing_chunk']
  assert refused['rc'] != 0 and "no chunk '_d'" in refused['stderr'] and not refused['traceback']
  assert not (folder / 'missing_chunk_set').exists()


def test_prepare_cli_merges_sources_with_counts_per_source(cli):
  folder, inputs, results = cli
  result = _finished(results['merged'])
  records = load_prepared(folder / 'merged_set')
  with open(folder / 'merged_set' / 'rejected.csv', newline='') as f:
    rejected = list(csv.DictReader(f))
  for name, rows in (('pnw', inputs['pnw']), ('pnw-extra', inputs['extra'])):
    accepted = int(np.sum(records.extra['source'] == name))
    refused = sum(line['source'] == name for line in rejected)
    assert accepted + refused == len(rows)
    assert f'source {name}: input {len(rows)}: accepted {accepted}, rejected {refused}' in result['stdout']
  # The chronological split runs over both sources: pnw (2018-) tests, pnw-extra (-2017) trains.
  split = dict(zip(records.extra['source'], records.extra['split']))
  assert set(records.extra['split'][records.extra['source'] == 'pnw']) == {'test'}
  assert set(records.extra['split'][records.extra['source'] == 'pnw-extra']) == {'train'}
  assert split


def test_prepare_cli_refuses_an_event_id_shared_by_two_sources(cli):
  result = cli[2]['shared_event_id']
  assert result['rc'] != 0 and not result['traceback'] and not result['usage']
  assert "event id 'uw61348817'" in result['stderr'] and "sources 'a' and 'b'" in result['stderr']
  assert 'Traceback' not in result['stderr']
