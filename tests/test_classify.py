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
from ganet_jax.classify import Classifier
from ganet_jax.data import ingest
from ganet_jax.data.records_table import InputRecord
from ganet_jax.errors import RecordRejected
from ganet_jax.training.checkpoint import load_trained

from conftest import TINY_RUN_SAMPLES as SAMPLES  # the classifier takes its window length from the checkpoint


@pytest.fixture(scope='module')
def run_dir(tiny_run):
  return tiny_run


@pytest.fixture(scope='module')
def pnw_rows(shared_data):
  """A few 100-Hz pnw rows (two events) and one 1-Hz row, paths made absolute."""
  with open(shared_data / 'pnw' / 'labels.csv', newline='') as f:
    rows = list(csv.DictReader(f))
  good = [r for r in rows if float(r['sampling_rate']) == 100.0]
  events = sorted({r['event_id'] for r in good})[:2]
  chosen = [r for r in good if r['event_id'] in events][:5]
  low = next(r for r in rows if float(r['sampling_rate']) < 20)
  for row in chosen + [low]:
    row['file'] = str(shared_data / 'pnw' / row['file'])
  return chosen, low


def _write_table(path, rows):
  with open(path, 'w', newline='') as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)


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
  _write_table(table, chosen + [low, {**chosen[0], 'file': str(junk), 'station': 'JUNK'}])
  output = tmp_path / 'out' / 'predictions.csv'
  counts = classify_cli.classify(str(run_dir), [str(tmp_path)], str(table), output)
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
    classify_cli.input_records([str(tmp_path / 'nowhere')], None, '')
  with pytest.raises(FileNotFoundError, match='no waveform files'):
    classify_cli.input_records([str(tmp_path)], None, '')
  with pytest.raises(FileNotFoundError, match='--records'):
    classify_cli.input_records([str(tmp_path)], 'absent.csv', '')


def test_classifier_prepares_with_the_training_sets_band_pass(run_dir, pnw_rows, tmp_path):
  saved = json.loads((run_dir / 'config.json').read_text())
  assert saved['data']['preprocessing'] == ingest.settings(ingest.PrepareOptions())
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
