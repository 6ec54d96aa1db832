"""python -m experiments.prepare on a 20-record subset of pnw, end to end."""

import csv
import os
import pathlib
import subprocess
import sys

import numpy as np

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


def test_prepare_cli_on_a_seisbench_dataset(tmp_path):
  from test_data_seisbench import _write_dataset  # pytest puts tests/ on sys.path
  n_rows = _write_dataset(tmp_path)
  output = tmp_path / 'prepared'
  result = subprocess.run(
      [sys.executable, '-m', 'experiments.prepare', f'--input={tmp_path}', '--format=seisbench',
       f'--output={output}', '--max_distance_km=1000'],
      cwd=ROOT, env={**os.environ, 'PYTHONPATH': str(ROOT)}, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr
  records = load_prepared(output)
  with open(output / 'rejected.csv', newline='') as f:
    rejected = list(csv.DictReader(f))
  assert len(records) == 4 and len(records) + len(rejected) == n_rows  # the 900 km row is now accepted
  assert list(records.extra['split']) == ['train', 'test', 'dev', 'train']
  assert f'input {n_rows}: accepted 4, rejected {n_rows - 4}' in result.stdout
  assert 'records/s, ' not in result.stderr  # no progress lines when stderr is not a terminal


def test_prepare_cli_reads_the_chunks_it_is_given(tmp_path):
  from test_data_seisbench import _chunked_set
  _chunked_set(tmp_path / 'set', chunks=('_a', '_b', '_c'))
  output = tmp_path / 'prepared'
  result = _run_prepare(f'--input={tmp_path / "set"}', '--format=seisbench', '--chunks=_c,_a', '--window_s=10',
                        f'--output={output}')
  assert result.returncode == 0, result.stderr
  records = load_prepared(output)
  assert list(records.extra['chunk']) == ['_c'] * 3 + ['_a'] * 3
  refused = _run_prepare(f'--input={tmp_path / "set"}', '--format=seisbench', '--chunks=_d', f'--output={output}2')
  assert refused.returncode != 0 and "no chunk '_d'" in refused.stderr and not (tmp_path / 'prepared2').exists()


def _subset_table(source_table, path, rows_slice, **overrides):
  with open(source_table, newline='') as f:
    reader = csv.DictReader(f)
    rows = [{**row, **overrides} for row in list(reader)[rows_slice]]
  with open(path, 'w', newline='') as f:
    writer = csv.DictWriter(f, fieldnames=reader.fieldnames)
    writer.writeheader()
    writer.writerows(rows)
  return rows


def _run_prepare(*args):
  return subprocess.run([sys.executable, '-m', 'experiments.prepare', *args], cwd=ROOT,
                        env={**os.environ, 'PYTHONPATH': str(ROOT)}, capture_output=True, text=True, timeout=300)


def test_prepare_cli_merges_sources_with_counts_per_source(shared_data, tmp_path):
  pnw = _subset_table(shared_data / 'pnw' / 'labels.csv', tmp_path / 'pnw.csv', slice(0, 400, 50))
  extra = _subset_table(shared_data / 'pnw-extra' / 'labels.csv', tmp_path / 'extra.csv', slice(0, 400, 50))
  output = tmp_path / 'prepared'
  result = _run_prepare(f'--input={shared_data / "pnw"}', f'--records={tmp_path / "pnw.csv"}',
                        f'--input={shared_data / "pnw-extra"}', f'--records={tmp_path / "extra.csv"}',
                        f'--output={output}', '--split_boundaries=2018-01-01')
  assert result.returncode == 0, result.stderr
  records = load_prepared(output)
  with open(output / 'rejected.csv', newline='') as f:
    rejected = list(csv.DictReader(f))
  for name, rows in (('pnw', pnw), ('pnw-extra', extra)):
    accepted = int(np.sum(records.extra['source'] == name))
    refused = sum(line['source'] == name for line in rejected)
    assert accepted + refused == len(rows)
    assert f'source {name}: input {len(rows)}: accepted {accepted}, rejected {refused}' in result.stdout
  # The chronological split runs over both sources: pnw (2018-) tests, pnw-extra (-2017) trains.
  split = dict(zip(records.extra['source'], records.extra['split']))
  assert set(records.extra['split'][records.extra['source'] == 'pnw']) == {'test'}
  assert set(records.extra['split'][records.extra['source'] == 'pnw-extra']) == {'train'}
  assert split


def test_prepare_cli_refuses_an_event_id_shared_by_two_sources(shared_data, tmp_path):
  _subset_table(shared_data / 'pnw' / 'labels.csv', tmp_path / 'pnw.csv', slice(0, 2))
  _subset_table(shared_data / 'pnw-extra' / 'labels.csv', tmp_path / 'extra.csv', slice(0, 2),
                event_id='uw61348817')  # pnw's first event id, another origin time
  result = _run_prepare(f'--input={shared_data / "pnw"}', f'--records={tmp_path / "pnw.csv"}', '--source=a',
                        f'--input={shared_data / "pnw-extra"}', f'--records={tmp_path / "extra.csv"}', '--source=b',
                        f'--output={tmp_path / "prepared"}')
  assert result.returncode != 0
  assert "event id 'uw61348817'" in result.stderr and "sources 'a' and 'b'" in result.stderr
  assert 'Traceback' not in result.stderr
