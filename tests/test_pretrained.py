"""Pretrained ensembles: inference-only export of run folders, loaded in one line."""

import dataclasses
import json
import logging
import re
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

from conftest import filled_variables
from ganet_jax import pretrained
from ganet_jax.classify import Classifier, export_pretrained, model_folder
from ganet_jax.data.synthetic import make_synthetic
from ganet_jax.evaluation import aggregation


@pytest.fixture(scope='module')
def exported(tiny_run, tmp_path_factory):
  """A two-member export: the tiny run and a copy (the members' files and the vmapped path, not their values)."""
  copy = tmp_path_factory.mktemp('runs') / 'copy'
  shutil.copytree(tiny_run, copy)
  folder = tmp_path_factory.mktemp('pretrained') / 'tiny'
  return export_pretrained([tiny_run, copy], folder, components='Z', description='tiny synthetic test run')


def test_round_trip_gives_the_run_folders_probabilities(tiny_run, exported):
  from_run = Classifier.from_checkpoint(tiny_run, components='Z')
  loaded = Classifier.pretrained(str(exported))
  assert [m.name for m in loaded.members] == [tiny_run.name, 'copy'] and len(loaded._groups) == 1
  assert loaded.components == 'Z' and loaded.threshold == from_run.threshold
  assert loaded.options == from_run.options  # same window length and signal chain
  samples = from_run.options.preprocess.window_samples
  windows = np.random.default_rng(0).normal(size=(6, samples, 3)).astype(np.float32)
  np.testing.assert_allclose(loaded.member_probabilities(windows),
                             np.repeat(from_run.member_probabilities(windows), 2, axis=0), atol=1e-6)
  for a, b in zip(jax.tree.leaves(loaded.members[0].variables), jax.tree.leaves(from_run.members[0].variables)):
    np.testing.assert_array_equal(a, b)


def test_the_card_describes_and_the_files_hold_inference_variables_only(tiny_run, exported):
  card = json.loads((exported / pretrained.CARD_FILE).read_text())
  saved = json.loads((tiny_run / 'config.json').read_text())
  assert card['input_shape'] == saved['data']['input_shape'] and card['preprocessing'] == saved['data']['preprocessing']
  assert card['description'] == 'tiny synthetic test run' and card['components'] == 'Z'
  member = card['members'][0]
  assert [m['file'] for m in card['members']] == ['member_0.msgpack', 'member_1.msgpack']
  assert member['model'] == {'name': saved['config']['model'], 'overrides': saved['config']['model_overrides']}
  assert member['seed'] == saved['config']['seed'] and member['data']['train'] == saved['data']['train']
  variables = Classifier.from_checkpoint(tiny_run).members[0].variables
  assert set(variables) == {'params', 'batch_stats'}
  payload = sum(np.asarray(leaf).nbytes for leaf in jax.tree.leaves(variables))
  size = (exported / member['file']).stat().st_size
  assert payload <= size < payload * 1.1 + 4096  # float32 variables plus msgpack framing: no optimizer moments
  assert sorted(p.name for p in exported.iterdir()) == ['card.json', 'member_0.msgpack', 'member_1.msgpack']


def test_shipped_names_load_by_name_and_unknown_names_list_them(exported, monkeypatch, tmp_path):
  monkeypatch.setattr(pretrained, 'PRETRAINED_ROOT', exported.parent)
  assert pretrained.available() == ['tiny']
  assert Classifier.pretrained('tiny').source == str(exported)
  with pytest.raises(ValueError, match="no pretrained model 'pnw'; shipped: tiny"):
    Classifier.pretrained('pnw')


def test_export_refuses_to_replace_and_a_damaged_member_is_named(tiny_run, exported, tmp_path):
  with pytest.raises(ValueError, match='exists; pass overwrite'):
    export_pretrained(tiny_run, exported)
  copy = tmp_path / 'copy'
  export_pretrained(tiny_run, copy)
  data = bytearray((copy / 'member_0.msgpack').read_bytes())
  data[-1] ^= 0xFF
  (copy / 'member_0.msgpack').write_bytes(bytes(data))
  with pytest.raises(ValueError, match='member_0.msgpack: damaged'):
    Classifier.pretrained(str(copy))


def test_cli_exports_and_classify_takes_it(tiny_run, tmp_path):
  destination = tmp_path / 'cli'
  subprocess.run([sys.executable, '-m', 'experiments.export_pretrained', f'--checkpoint={tiny_run}',
                  f'--destination={destination}', '--components=Z'], check=True, capture_output=True)
  assert (destination / pretrained.CARD_FILE).is_file()
  from ganet_jax.classify import predictions
  empty = tmp_path / 'empty'
  empty.mkdir()
  with pytest.raises(FileNotFoundError, match='no waveform files'):  # loaded; then the inputs are looked at
    predictions.classify_files(None, [str(empty)], None, tmp_path / 'p.csv', pretrained=str(destination))
  with pytest.raises(ValueError, match='no pretrained model'):
    predictions.classify_files(None, [str(empty)], None, tmp_path / 'p.csv', pretrained='nonexistent')


def test_package_data_ships_every_file_an_export_writes(exported):
  import configparser
  import fnmatch
  import pathlib
  setup = configparser.ConfigParser()
  setup.read(pathlib.Path(__file__).resolve().parents[1] / 'setup.cfg')
  patterns = setup['options.package_data']['ganet_jax.pretrained'].split()
  for path in exported.iterdir():
    relative = f'{exported.name}/{path.name}'  # as it would lie under ganet_jax/pretrained/
    assert any(fnmatch.fnmatch(relative, pattern) for pattern in patterns), relative


def _physics_records(n, samples, preprocessing, seed=0):
  """Synthetic records whose class shows in the vertical's spectrum, with pre-event noise when kept."""
  from ganet_jax.data.records import RecordSet
  rng = np.random.default_rng(seed)
  labels = np.arange(n) % 2
  t = np.arange(samples) / 100.0
  waveforms = rng.normal(size=(n, samples, 3)).astype(np.float32)
  waveforms[:, :, 0] += (3 * np.sin(2 * np.pi * np.where(labels, 10.0, 2.0)[:, None] * t)).astype(np.float32)
  noise_samples = int(preprocessing['preprocess']['noise_s'] * 100)
  records = RecordSet.unlabeled(waveforms)
  return dataclasses.replace(records, labels=labels, event_ids=np.array([f'e{i // 2}' for i in range(n)]),
                             preprocessing=preprocessing,
                             noise=rng.normal(size=(n, noise_samples, 3)).astype(np.float32) if noise_samples else None)


def _preprocessing(noise_s=0.0, window_s=10.0):
  from ganet_jax.data import ingest, prepare_settings
  from ganet_jax.data.preprocess import PreprocessConfig
  return prepare_settings.settings(ingest.PrepareOptions(preprocess=PreprocessConfig(window_s=window_s, noise_s=noise_s)))


@pytest.mark.parametrize('feature_set, noise_s', [('bands', 0.0), ('snr_shape', 10.0)])
def test_a_physics_model_ships_through_the_same_path(feature_set, noise_s, tmp_path, shared_data):
  import csv
  from ganet_jax.classify import export_physics_pretrained
  from ganet_jax.data.records_table import InputRecord
  from ganet_jax.evaluation import physics
  train = _physics_records(40, 1000, _preprocessing(noise_s))
  model = physics.fit_feature_model(train, feature_set)
  folder = export_physics_pretrained(model, tmp_path / 'physics', preprocessing=train.preprocessing,
                                     input_shape=train.waveforms.shape[1:], limits='synthetic only',
                                     aggregation='mean_logit', data={'records': len(train)})
  card = json.loads((folder / pretrained.CARD_FILE).read_text())
  assert card['kind'] == 'physics' and card['members'][0]['file'] == 'member_0.json'
  loaded = Classifier.pretrained(str(folder))
  assert loaded.needs_noise == (noise_s > 0) and loaded.limits == ['synthetic only']
  # The loaded model gives the fitted one's probabilities (and separates the training classes).
  p = loaded.probabilities(train)
  np.testing.assert_allclose(p, model.p_tectonic(train.waveforms, train.noise), atol=1e-6)
  assert np.mean((p < 0.5) == (train.labels == 1)) > 0.9
  # Real files are prepared as its records were (noise kept where the set needs it) and classified.
  rows = [r for r in csv.DictReader(open(shared_data / 'pnw' / 'labels.csv')) if r['sampling_rate'] == '100.0'][:2]
  records = [InputRecord(files=(shared_data / 'pnw' / r['file'],), rows=(r,)) for r in rows]
  classified, unclassified = loaded.classify_records(records)
  assert len(classified) == 2 and not unclassified
  for record in classified:
    noise = record.prepared.noise[None] if noise_s else None
    assert (noise is not None) == (noise_s > 0)
    assert record.p_tectonic == pytest.approx(float(model.p_tectonic(record.prepared.window[None], noise)[0]),
                                              abs=1e-6)
  # Its events are combined by the card's rule.
  events, p_events = loaded.event_probabilities(['a', 'a', 'b'], [0.9, 0.2, 0.4])
  assert events == ['a', 'b'] and p_events[0] == pytest.approx(aggregation.sigmoid(np.mean(aggregation.logit(
      [0.9, 0.2]))))


def test_physics_exports_refuse_what_cannot_feed_them(tmp_path):
  from ganet_jax.classify import export_physics_pretrained
  from ganet_jax.evaluation import physics
  train = _physics_records(20, 1000, _preprocessing(10.0))
  model = physics.fit_feature_model(train, 'snr_shape')
  with pytest.raises(ValueError, match="'snr_shape' is noise-referenced but its preprocessing keeps no"):
    export_physics_pretrained(model, tmp_path / 'a', preprocessing=_preprocessing(0.0), input_shape=(1000, 3))
  with pytest.raises(ValueError, match='event aggregation .snr_weighted.'):
    export_physics_pretrained(model, tmp_path / 'b', preprocessing=train.preprocessing, input_shape=(1000, 3),
                              aggregation='snr_weighted')
  assert not (tmp_path / 'b').exists()


def test_a_network_of_another_architecture_ships_and_the_limits_are_logged(tmp_path, caplog):
  from ganet_jax.models import build_model
  from ganet_jax.evaluation.predict import predict_probabilities
  samples = 256
  model = build_model('cnn_zhu2023')
  variables = filled_variables(model, np.zeros((1, samples, 3), np.float32))
  card = {'kind': 'network', 'input_shape': [samples, 3], 'threshold': 0.5, 'components': 'ZNE',
          'preprocessing': _preprocessing(window_s=samples / 100), 'description': '',
          'limits': ['not for anything', 'synthetic'],
          'members': [{'name': 'zhu', 'model': {'name': 'cnn_zhu2023', 'overrides': {}}}]}
  folder = model_folder.write(tmp_path / 'zhu', card, [variables])
  with caplog.at_level(logging.WARNING):
    loaded = Classifier.pretrained(str(folder))
  assert type(loaded.members[0].model) is type(model) and loaded.aggregation == 'mean_probability'
  assert loaded.card['limits'] == loaded.limits == ['not for anything', 'synthetic']
  assert 'not for anything' in caplog.text and 'synthetic' in caplog.text
  windows = make_synthetic(4, seed=1, samples=samples).waveforms
  np.testing.assert_allclose(loaded.probabilities(windows), predict_probabilities(model, variables, windows),
                             atol=1e-6)


def test_a_card_without_kind_reads_as_networks_and_an_unknown_kind_is_refused(exported, tmp_path):
  card = json.loads((exported / pretrained.CARD_FILE).read_text())
  assert model_folder.card_kind({k: v for k, v in card.items() if k != 'kind'}) == 'network'
  copy = tmp_path / 'copy'
  shutil.copytree(exported, copy)
  (copy / pretrained.CARD_FILE).write_text(json.dumps({**card, 'kind': 'forest'}))
  with pytest.raises(ValueError, match="kind 'forest'"):
    Classifier.pretrained(str(copy))


@pytest.mark.parametrize('parameters, field', [
    # a rule fitted on statistics this library no longer computes (the number of records among them)
    ({'statistics': ['mean_logit', 'max_logit', 'min_logit', 'std_logit', 'log_records'], 'mean': [0.0] * 5,
      'scale': [1.0] * 5, 'weights': [0.0] * 5, 'bias': 0.0}, 'aggregation.parameters.statistics'),
    ({'statistics': list(aggregation.STATISTICS), 'mean': [0.0, 0.0], 'scale': [1.0, 1.0], 'weights': [1.0],
      'bias': 0.0}, 'aggregation.parameters.weights'),
    ({'statistics': list(aggregation.STATISTICS), 'mean': [0.0, 0.0], 'scale': [1.0, 0.0], 'weights': [1.0, 1.0],
      'bias': 0.0}, 'aggregation.parameters.scale'),
    ({'statistics': list(aggregation.STATISTICS), 'mean': [0.0, 0.0], 'scale': [1.0, 1.0], 'weights': [1.0, 1.0]},
     'aggregation.parameters.bias'),
    (['mean_logit'], "the 'learned' event aggregation needs its parameters"),
])
def test_a_card_whose_learned_rule_this_library_cannot_apply_is_refused_naming_the_field(exported, tmp_path,
                                                                                         parameters, field):
  card = json.loads((exported / pretrained.CARD_FILE).read_text())
  copy = tmp_path / 'copy'
  shutil.copytree(exported, copy)
  (copy / pretrained.CARD_FILE).write_text(json.dumps({**card, 'aggregation': {'rule': 'learned',
                                                                               'parameters': parameters}}))
  with pytest.raises(ValueError, match='^' + re.escape(f'{copy}/card.json: {field}')) as error:
    Classifier.pretrained(str(copy))
  assert '\n' not in str(error.value)


def test_the_shipped_cards_event_rules_load():
  for name in pretrained.available():
    assert Classifier.pretrained(name).aggregation in ('mean_probability', 'mean_logit', 'learned'), name


def test_the_shipped_card_states_its_limits():
  for name in pretrained.available():
    card = json.loads((pretrained.PRETRAINED_ROOT / name / pretrained.CARD_FILE).read_text())
    assert model_folder.card_limits(card), name
