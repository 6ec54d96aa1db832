"""Classifying real files with a trained run: Python entry point, CLI, bad input."""

import csv
import dataclasses
import json
import pathlib
import shutil

import numpy as np
import obspy
import pytest

from experiments import classify as classify_cli
from ganet_jax.classify import predictions
from ganet_jax.classify import Classifier
from ganet_jax.data import ingest
from ganet_jax.data import prepare_settings
from ganet_jax.data.preprocess import PreprocessConfig
from ganet_jax.data.records_table import InputRecord
from ganet_jax.errors import RecordRejected

from conftest import TINY_RUN_SAMPLES as SAMPLES  # the classifier takes its window length from the checkpoint
from conftest import write_table


@pytest.fixture(scope='module')
def run_dir(tiny_run):
  return tiny_run


@pytest.fixture(scope='module')
def pnw_rows(shared_data):
  """A few 100-Hz pnw rows (two events) and one 1-Hz row, paths made absolute."""
  with open(shared_data / 'pnw' / 'labels.csv', newline='') as f:
    rows = list(csv.DictReader(f))
  # RPW's files hold two live sensors (locations '' and 01) that nothing tells apart: refused
  good = [r for r in rows if float(r['sampling_rate']) == 100.0 and r['station'] != 'RPW']
  events = sorted({r['event_id'] for r in good})[:2]
  chosen = [r for r in good if r['event_id'] in events][:5]
  low = next(r for r in rows if float(r['sampling_rate']) < 20)
  for row in chosen + [low]:
    row['file'] = str(shared_data / 'pnw' / row['file'])
  return chosen, low



def _read(path):
  with open(path, newline='') as f:
    return list(csv.DictReader(f))


def test_classify_stream_prepares_as_the_training_ingestion_does(run_dir, pnw_rows):
  classifier = Classifier.from_checkpoint(run_dir)
  assert classifier.options.preprocess.window_samples == SAMPLES
  row = pnw_rows[0][0]
  onset = obspy.UTCDateTime(row['origin_time']) + 3.0
  p_stream = classifier.classify_stream(obspy.read(row['file']), onset)
  # The same file through the ingestion path with the onset in the table column.
  prepared = ingest.prepare_record(InputRecord(files=(pathlib.Path(row['file']),),
                                               rows=({**row, 'p_time': str(onset)},)), classifier.options)
  assert prepared.window.shape == (SAMPLES, 3)
  assert prepared.extra['channels_present'] == 'Z'  # N and E zero-filled: channel dropout
  p_window = classifier.probabilities(prepared.window[None])[0]
  assert 0.0 <= p_stream <= 1.0
  np.testing.assert_allclose(p_stream, p_window, atol=1e-6)
  # Another onset gives another window, hence (almost surely) another probability.
  assert classifier.classify_stream(obspy.read(row['file']), onset + 20.0) != pytest.approx(p_stream, abs=1e-9)


def test_classify_stream_rejects_too_few_samples_after_the_onset(run_dir, pnw_rows):
  classifier = Classifier.from_checkpoint(run_dir)
  stream = obspy.read(pnw_rows[0][0]['file'])
  late = stream[0].stats.endtime - 1.0  # 1 s left; the window needs 5 s and no padding is allowed here
  classifier.options = dataclasses.replace(
      classifier.options, preprocess=dataclasses.replace(classifier.options.preprocess, max_pad_s=0.0))
  with pytest.raises(RecordRejected, match='after the P onset; the window needs 5 s'):
    classifier.classify_stream(stream, late)


def test_cli_classifies_records_and_events_and_lists_the_rest(run_dir, pnw_rows, tmp_path):
  chosen, low = pnw_rows
  junk = tmp_path / 'notes.mseed'
  junk.write_text('not a seismogram\n')
  table = tmp_path / 'table.csv'
  write_table(table, chosen + [low, {**chosen[0], 'file': str(junk), 'station': 'JUNK'}])
  output = tmp_path / 'out' / 'predictions.csv'
  counts = predictions.classify_files(str(run_dir), [str(tmp_path)], str(table), output)
  records = _read(output)
  unclassified = _read(output.with_name('predictions_unclassified.csv'))
  events = _read(output.with_name('predictions_events.csv'))
  assert counts['input'] == len(records) + len(unclassified) == len(chosen) + 2
  reasons = {r['file']: r['reason'] for r in unclassified}
  assert 'sampling rate' in reasons[low['file']]
  assert 'unreadable' in reasons[str(junk)]
  assert {r['file'] for r in records} == {r['file'] for r in chosen}
  for r in records:
    assert r['decision'] == ('tectonic' if float(r['p_tectonic']) >= 0.5 else 'non-tectonic')
    assert r['given_label'] in ('0', '1') and r['channels_present'] == 'Z'
  assert {e['event_id'] for e in events} == {r['event_id'] for r in chosen}
  for event in events:
    members = [float(r['p_tectonic']) for r in records if r['event_id'] == event['event_id']]
    assert int(event['n_records']) == len(members)
    assert float(event['p_tectonic']) == pytest.approx(np.mean(members), abs=1e-5)
    assert event['record_mean_p_tectonic'] == event['p_tectonic']  # a run folder's rule is the mean
    assert event['given_label'] == {r['given_label'] for r in records if r['event_id'] == event['event_id']}.pop()


def test_event_rows_give_the_rules_value_the_records_mean_and_what_the_table_said():
  from ganet_jax.evaluation import aggregation
  p = {'a': [0.9, 0.2], 'b': [0.3] * 6}
  rows = [{'event_id': event, 'p_tectonic': f'{value:.6f}', 'given_event_type': kind, 'given_label': label}
          for event, kind, label in (('a', 'earthquake', '0'), ('b', 'explosion', '1')) for value in p[event]]
  rows[1] = {**rows[1], 'given_label': '1', 'given_event_type': ''}  # a table whose rows disagree: both shown
  train = (np.repeat(['t0', 't1', 't2', 't3'], 2), np.repeat([0, 0, 1, 1], 2),
           [0.9, 0.6, 0.7, 0.8, 0.2, 0.4, 0.3, 0.1])
  rule = aggregation.fit_learned(*train)
  events = {e['event_id']: e for e in predictions.event_rows(rows, 0.5, rule='learned', learned_rule=rule)}
  for event, values in p.items():
    row = events[event]
    assert int(row['n_records']) == len(values)
    assert float(row['record_mean_p_tectonic']) == pytest.approx(np.mean(values), abs=1e-6)
    learned = aggregation.learned([event] * len(values), [0] * len(values), values, rule)[2][0]
    assert float(row['p_tectonic']) == pytest.approx(learned, abs=1e-6)
    assert row['decision'] == ('tectonic' if learned >= 0.5 else 'non-tectonic')
  assert float(events['a']['p_tectonic']) != pytest.approx(float(events['a']['record_mean_p_tectonic']), abs=1e-3)
  assert events['a']['given_label'] == '0;1' and events['a']['given_event_type'] == 'earthquake'
  assert events['b']['given_label'] == '1' and events['b']['given_event_type'] == 'explosion'


def test_bad_checkpoints_are_named(run_dir, tmp_path):
  with pytest.raises(FileNotFoundError, match='no such run folder'):
    Classifier.from_checkpoint(tmp_path / 'missing')
  with pytest.raises(FileNotFoundError, match='config.json'):
    Classifier.from_checkpoint(tmp_path)
  other = tmp_path / 'other'
  shutil.copytree(run_dir, other)
  saved = json.loads((other / 'config.json').read_text())
  saved['config'].update(model='cnn_zhu2023', model_overrides={})
  (other / 'config.json').write_text(json.dumps(saved))
  with pytest.raises(ValueError, match='cannot restore the checkpoint'):
    Classifier.from_checkpoint(other)


def test_cli_input_errors_name_the_path(tmp_path):
  with pytest.raises(FileNotFoundError, match='nowhere'):
    predictions.input_records([str(tmp_path / 'nowhere')], None, '')
  with pytest.raises(FileNotFoundError, match='no waveform files'):
    predictions.input_records([str(tmp_path)], None, '')
  with pytest.raises(ValueError, match='--records=absent.csv: .*not a file .*from its --input'):
    predictions.input_records([str(tmp_path)], 'absent.csv', '')
  with pytest.raises(ValueError, match='--records is given 1 times for 2 --input'):
    predictions.input_records([str(tmp_path), str(tmp_path)], 'absent.csv', '')


def test_classify_reads_inputs_and_tables_as_prepare_does(shared_data, pnw_rows, tmp_path, monkeypatch):
  """A table outside its --input, a ./<name> in the working directory, several --input."""
  from ganet_jax.data import sources
  rows = [{**r, 'file': str(pathlib.Path(r['file']).relative_to(shared_data / 'pnw'))} for r in pnw_rows[0][:2]]
  elsewhere = tmp_path / 'tables' / 'mine.csv'
  elsewhere.parent.mkdir()
  write_table(elsewhere, rows)  # file paths relative to --input, as experiments.prepare reads them
  records = predictions.input_records([str(shared_data / 'pnw')], str(elsewhere), '')
  assert [r.files[0] for r in records] == [shared_data / 'pnw' / r['file'] for r in rows]
  assert all(f.is_file() for r in records for f in r.files)
  assert sources.source_records(sources.resolve_sources([str(shared_data / 'pnw')], [str(elsewhere)])[0],
                                labelled=False)[0] == records  # the same function as prepare's
  monkeypatch.chdir(tmp_path / 'tables')
  write_table(tmp_path / 'tables' / 'labels.csv', rows[:1])  # must not shadow <input>/labels.csv
  assert len(predictions.input_records([str(shared_data / 'pnw')], 'labels.csv', '')) > 100
  second = tmp_path / 'second'
  second.mkdir()
  shutil.copy(shared_data / 'pnw' / rows[0]['file'], second / 'one.mseed')
  write_table(second / 'table.csv', [{**rows[0], 'file': 'one.mseed'}])
  both = predictions.input_records([str(shared_data / 'pnw'), str(second)], [str(elsewhere), 'table.csv'], '')
  assert [r.files[0] for r in both[2:]] == [second / 'one.mseed']
  assert classify_cli.split_inputs(['a,b', 'c']) == ['a', 'b', 'c']


def test_every_entry_point_checks_shape_rate_and_values(run_dir):
  """Windows of another length, rate or preprocessing, NaN/inf and 2-D input: refused, saying what is expected."""
  from ganet_jax.data.records import RecordSet
  classifier = Classifier.from_checkpoint(run_dir)
  good = np.random.default_rng(0).normal(size=(2, SAMPLES, 3)).astype(np.float32)
  assert classifier.probabilities(good).shape == (2,)
  expected = f'expected \\(n, {SAMPLES}, 3\\) windows'
  for samples in (SAMPLES // 4, SAMPLES * 4):
    with pytest.raises(ValueError, match=f'shape \\(2, {samples}, 3\\): {expected}'):
      classifier.probabilities(np.zeros((2, samples, 3), np.float32))
  with pytest.raises(ValueError, match='one window without the batch axis'):
    classifier.member_probabilities(good[0])
  for bad in (np.nan, np.inf):
    broken = good.copy()
    broken[1, 5, 0] = bad
    with pytest.raises(ValueError, match='windows 1 .* holds NaN or inf'):
      classifier.probabilities(broken)
  with pytest.raises(ValueError, match='windows at 50 Hz: the model takes 100 Hz'):
    classifier.probabilities(good, sampling_rate=50.0)
  settings = prepare_settings.settings(ingest.PrepareOptions())
  other_rate = {**settings, 'preprocess': {**settings['preprocess'], 'sampling_rate': 50.0}}
  with pytest.raises(ValueError, match='sampling_rate 50.0 .*the model.s: 100.0'):
    classifier.probabilities(dataclasses.replace(RecordSet.unlabeled(good), preprocessing=other_rate))
  other_band = {**settings, 'preprocess': {**settings['preprocess'], 'bandpass': [1.0, 15.0]}}
  with pytest.raises(ValueError, match='bandpass'):
    classifier.probabilities(dataclasses.replace(RecordSet.unlabeled(good), preprocessing=other_band))
  same = dataclasses.replace(RecordSet.unlabeled(good), preprocessing=settings)
  np.testing.assert_allclose(classifier.probabilities(same), classifier.probabilities(good), atol=1e-6)
  with pytest.raises(ValueError, match='attention takes one'):
    classifier.attention(good)


def test_a_record_below_the_models_band_is_refused(run_dir, pnw_rows, tmp_path):
  """A 20 Hz record (Nyquist 10 Hz) for a model band-passed at 1-15 Hz: refused in every entry point."""
  banded = tmp_path / 'run'
  shutil.copytree(run_dir, banded)
  saved = json.loads((banded / 'config.json').read_text())
  saved['data']['preprocessing']['preprocess']['bandpass'] = [1.0, 15.0]
  (banded / 'config.json').write_text(json.dumps(saved))
  classifier = Classifier.from_checkpoint(banded)
  row = pnw_rows[0][0]
  slow = obspy.read(row['file'])
  slow.resample(20.0)
  for trace in slow:
    trace.data = trace.data.astype(np.float32)  # MiniSEED writes float32 without a warning
  reason = "input rate 20 Hz: Nyquist 10 Hz is below the model's band-pass 1-15 Hz; records of at least 30 Hz only"
  with pytest.raises(RecordRejected, match=reason):
    classifier.classify_stream(slow, origin_time=obspy.UTCDateTime(row['origin_time']))
  path = tmp_path / 'slow.mseed'
  slow.write(str(path), format='MSEED')
  records = [InputRecord(files=(path,), rows=({**row, 'file': str(path)},)),
             InputRecord(files=(pathlib.Path(row['file']),), rows=(row,))]
  classified, unclassified = classifier.classify_records(records)
  assert len(classified) == 1 and [u['reason'] for u in unclassified] == [reason]
  # A model without a band-pass takes the same record (its rate is above the minimum).
  assert len(Classifier.from_checkpoint(run_dir).classify_records(records[:1])[0]) == 1


def test_records_whose_distance_cannot_be_checked_are_counted_once(run_dir, pnw_rows, caplog):
  import logging
  classifier = Classifier.from_checkpoint(run_dir)
  records = [InputRecord(files=(pathlib.Path(r['file']),), rows=(r,)) for r in pnw_rows[0][:2]]
  with caplog.at_level(logging.WARNING):
    classifier.classify_records(records)
  lines = [r.getMessage() for r in caplog.records if 'distance' in r.getMessage()]
  assert len(lines) == 1 and lines[0].startswith('2 of 2 records have no epicentral distance')
  caplog.clear()
  with caplog.at_level(logging.WARNING):
    classifier.classify_records([InputRecord(files=r.files, rows=({**r.rows[0], 'distance_km': '12'},))
                                 for r in records])
  assert 'distance' not in caplog.text


def test_cli_exits_with_an_error_when_nothing_is_classified_and_prints_progress(run_dir, pnw_rows, tmp_path):
  import subprocess
  import sys
  _, low = pnw_rows
  write_table(tmp_path / 'low.csv', [low])
  result = subprocess.run([sys.executable, '-m', 'experiments.classify', f'--checkpoint={run_dir}',
                           f'--input={tmp_path}', '--records=low.csv', f'--output={tmp_path / "out" / "p.csv"}',
                           '--progress_every=1'], capture_output=True, text=True,
                          cwd=pathlib.Path(__file__).resolve().parents[1])
  assert result.returncode == 1, result.stderr
  assert '1 input records: 0 classified' in result.stdout
  assert 'error: none of the 1 input records could be classified' in result.stderr
  assert 'sampling rate' in result.stderr.splitlines()[-1]
  assert '1/1 records prepared, 1 unclassified' in result.stderr  # --progress_every given: shown off a terminal


def test_classifier_prepares_with_the_training_sets_band_pass(run_dir, pnw_rows, tmp_path):
  saved = json.loads((run_dir / 'config.json').read_text())
  assert saved['data']['preprocessing'] == prepare_settings.settings(
      ingest.PrepareOptions(preprocess=PreprocessConfig(window_s=SAMPLES / 100)))
  filtered_run = tmp_path / 'run'
  shutil.copytree(run_dir, filtered_run)
  saved['data']['preprocessing']['preprocess']['bandpass'] = [1.0, 20.0]
  (filtered_run / 'config.json').write_text(json.dumps(saved))
  plain, filtered = Classifier.from_checkpoint(run_dir), Classifier.from_checkpoint(filtered_run)
  assert plain.options.preprocess.bandpass is None and filtered.options.preprocess.bandpass == (1.0, 20.0)
  assert filtered.options.preprocess.window_samples == SAMPLES
  row = pnw_rows[0][0]
  record = InputRecord(files=(pathlib.Path(row['file']),), rows=(row,))
  window = filtered.prepare(record)
  assert window.extra['bandpass'] == '1-20 Hz'
  assert not np.allclose(window.window, plain.prepare(record).window, atol=1e-3)
