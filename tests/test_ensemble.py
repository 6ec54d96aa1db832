"""Seed ensembles: one vmapped call for members of one architecture, the mean of one-by-one members."""

import csv
import dataclasses

import flax.linen as nn
import jax
import numpy as np
import pytest

from conftest import filled_variables
from ganet_jax.classify import predictions
from ganet_jax import GANet
from ganet_jax.classify import Classifier, Member
from ganet_jax.evaluation.predict import predict_ensemble, predict_probabilities, stack_variables
from ganet_jax.training import experiment
from ganet_jax.training.config import ExperimentConfig

SAMPLES = 64
TRACES = []


class CountingNet(nn.Module):
  """A tiny GA-Net that counts how often it is traced."""
  inner: nn.Module

  def __call__(self, x, *, train=False):
    TRACES.append(x.shape)
    return self.inner(x, train=train)


def _perturbed_statistics(variables, seed):
  """Variables whose BatchNorm statistics differ from init's, so the test exercises them."""
  rng = np.random.default_rng(seed)
  stats = jax.tree.map(lambda v: np.asarray(v) + rng.uniform(0.1, 0.5, np.shape(v)).astype(np.float32),
                       variables['batch_stats'])
  return {'params': variables['params'], 'batch_stats': stats}


@pytest.fixture(scope='module')
def members():
  model = CountingNet(GANet(num_bottlenecks=1, head_features=16))
  x = np.zeros((1, SAMPLES, 3), np.float32)
  return model, [_perturbed_statistics(filled_variables(model, x, seed=seed), seed) for seed in range(3)]


def test_vmapped_ensemble_is_the_mean_of_its_members_and_compiles_once(members):
  model, variables = members
  waveforms = np.random.default_rng(0).normal(size=(11, SAMPLES, 3)).astype(np.float32)
  one_by_one = np.stack([predict_probabilities(model, v, waveforms, batch_size=4) for v in variables])
  TRACES.clear()
  stacked = stack_variables(variables)
  per_member, mean = predict_ensemble(model, stacked, waveforms, batch_size=4)  # 3 batches, the last padded
  predict_ensemble(model, stacked, waveforms[:6], batch_size=4)  # another count of records, same batch shape
  assert TRACES == [(4, SAMPLES, 3)]  # one trace of one batch shape serves every batch and every member
  assert per_member.shape == (3, 11) and mean.shape == (11,)
  np.testing.assert_allclose(per_member, one_by_one, atol=1e-6)
  np.testing.assert_allclose(mean, one_by_one.mean(axis=0), atol=1e-6)
  assert np.ptp(per_member, axis=0).max() > 1e-3  # the members do differ


def test_only_one_architecture_stacks(members):
  _, variables = members
  other = filled_variables(GANet(num_bottlenecks=1, head_features=24), np.zeros((1, SAMPLES, 3), np.float32))
  with pytest.raises(ValueError, match='member 1 has other variables'):
    stack_variables([variables[0], {'params': other['params'], 'batch_stats': other['batch_stats']}])


@pytest.fixture(scope='module')
def second_run(tiny_run, tmp_path_factory):
  """The tiny run's recipe with another seed: a two-member seed ensemble with ``tiny_run``."""
  import json
  from conftest import TINY_RUN_SAMPLES
  from ganet_jax.data import ingest, prepare_settings
  from ganet_jax.data.synthetic import make_synthetic
  records = dataclasses.replace(make_synthetic(10, seed=3, samples=TINY_RUN_SAMPLES),
                                preprocessing=prepare_settings.settings(ingest.PrepareOptions()))
  saved = json.loads((tiny_run / 'config.json').read_text())['config']
  workdir = tmp_path_factory.mktemp('tiny_run_seed1')
  experiment.run(ExperimentConfig(**{**saved, 'seed': 1}), records, records.subset(np.arange(8)), workdir,
                 log=lambda line: None)
  return workdir


def _windows(classifier, count=5, seed=0):
  samples = classifier.options.preprocess.window_samples
  return np.random.default_rng(seed).normal(size=(count, samples, 3)).astype(np.float32)


def test_classifier_of_two_runs_averages_them(tiny_run, second_run):
  ensemble = Classifier.from_checkpoint([tiny_run, second_run])
  singles = [Classifier.from_checkpoint(run) for run in (tiny_run, second_run)]
  windows = _windows(ensemble)
  assert [m.name for m in ensemble.members] == [tiny_run.name, second_run.name]
  assert len(ensemble._groups) == 1  # one architecture: one vmapped call
  per_member = ensemble.member_probabilities(windows)
  for row, single in zip(per_member, singles):
    np.testing.assert_allclose(row, single.probabilities(windows), atol=1e-6)
  np.testing.assert_allclose(ensemble.probabilities(windows), per_member.mean(axis=0), atol=1e-7)
  with pytest.raises(ValueError, match='listed twice'):
    Classifier.from_checkpoint([tiny_run, tiny_run])


def test_members_of_another_architecture_run_in_a_group_of_their_own(tiny_run, second_run):
  runs = Classifier.from_checkpoint([tiny_run, second_run])
  first = runs.members[0]
  other_model = GANet(num_bottlenecks=1, head_features=24)
  other = Member(other_model, filled_variables(other_model, np.zeros((1, *first.input_shape), np.float32), seed=5),
                 'wider', 'test', first.input_shape, first.preprocessing, first.threshold)
  mixed = Classifier.from_members([*runs.members, other])
  assert [indices for _, _, indices in mixed._groups] == [[0, 1], [2]]
  windows = _windows(mixed)
  expected = np.concatenate([runs.member_probabilities(windows),
                             predict_probabilities(other_model, other.variables, windows)[None]])
  np.testing.assert_allclose(mixed.member_probabilities(windows), expected, atol=1e-6)
  np.testing.assert_allclose(mixed.probabilities(windows), expected.mean(axis=0), atol=1e-6)


def test_members_must_share_input_shape_preprocessing_and_threshold(tiny_run):
  member = Classifier.from_checkpoint(tiny_run).members[0]
  longer = dataclasses.replace(member, input_shape=(member.input_shape[0] * 2, 3), source='longer')
  with pytest.raises(ValueError, match='same input'):
    Classifier.from_members([member, longer])
  settings = {**member.preprocessing, 'preprocess': {**member.preprocessing['preprocess'], 'bandpass': [1.0, 20.0]}}
  filtered = dataclasses.replace(member, preprocessing=settings, source='filtered')
  with pytest.raises(ValueError, match='preprocess'):
    Classifier.from_members([member, filtered])
  with pytest.raises(ValueError, match='one threshold'):
    Classifier.from_members([member, dataclasses.replace(member, threshold=0.7)])
  # Record-selection limits do not shape a window: members may differ there.
  lenient = {**member.preprocessing, 'preprocess': {**member.preprocessing['preprocess'], 'max_pad_s': 30.0}}
  Classifier.from_members([member, dataclasses.replace(member, preprocessing=lenient)])


def _read(path):
  with open(path, newline='') as f:
    return list(csv.DictReader(f))


def test_cli_writes_the_ensemble_mean_and_every_members_column(tiny_run, second_run, shared_data, tmp_path):
  with open(shared_data / 'pnw' / 'labels.csv', newline='') as f:
    rows = [r for r in csv.DictReader(f) if float(r['sampling_rate']) == 100.0][:3]
  for row in rows:
    row['file'] = str(shared_data / 'pnw' / row['file'])
  table = tmp_path / 'table.csv'
  with open(table, 'w', newline='') as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
  output = tmp_path / 'predictions.csv'
  predictions.classify_files([str(tiny_run), str(second_run)], [str(tmp_path)], str(table), output)
  records, events = _read(output), _read(output.with_name('predictions_events.csv'))
  columns = [f'p_tectonic_{tiny_run.name}', f'p_tectonic_{second_run.name}']
  assert records and all(c in records[0] for c in columns) and all(c in events[0] for c in columns)
  for row in records + events:
    assert float(row['p_tectonic']) == pytest.approx(np.mean([float(row[c]) for c in columns]), abs=2e-6)
  single = tmp_path / 'single.csv'
  predictions.classify_files(str(tiny_run), [str(tmp_path)], str(table), single)
  assert list(_read(single)[0]) == list(predictions.RECORD_COLUMNS)  # one run: today's columns
  assert [r['p_tectonic'] for r in _read(single)] == [r[columns[0]] for r in records]
