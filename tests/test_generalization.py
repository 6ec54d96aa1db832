"""The generalisation study: forward, station and shuffled folds, controls, stacking, pooled tables."""

import dataclasses
import json
import pathlib
import subprocess
import sys

import ml_collections
import numpy as np
import pytest

from ganet_jax.classify import Classifier
from ganet_jax.data import ingest
from ganet_jax.data import prepare_settings
from ganet_jax.data.preprocess import PreprocessConfig
from ganet_jax.data.records import save_prepared
from ganet_jax.data.synthetic import make_synthetic
from ganet_jax.evaluation import aggregation, controls
from ganet_jax.studies import generalization as gen
from ganet_jax.studies import generalization_report as report

REPO = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope='module')
def records():
  base = make_synthetic(60, seed=3, samples=3000, years=(2010, 2021))
  n = len(base)
  return dataclasses.replace(base, extra={**base.extra, 'network': np.full(n, 'XX'),
                                          'channels': np.full(n, 'EHZ'), 'sampling_rate_in': np.full(n, '100')})


def test_forward_folds_train_only_on_earlier_years_and_skip_one_class_training(records):
  year = gen.years(records)
  folds, skipped = gen.forward_folds(records, [2011, 2014, 2017, 2020], test_from=2020, min_train_events=2)
  assert folds, skipped
  for fold in folds:
    start = int(fold.name.split('-')[0])
    assert year[fold.train].max() < start <= year[fold.validation].min()
    assert not set(records.event_ids[fold.train]) & set(records.event_ids[fold.validation])
    assert fold.test == (start >= 2020)
  # the first origin leaves one year of training events: too few of a class with a high minimum
  folds, skipped = gen.forward_folds(records, [2011, 2014], test_from=2020, min_train_events=50)
  assert not folds and len(skipped) == 2 and 'needs >= 50' in skipped[0]


def test_forward_blocks_cover_every_later_year_once(records):
  folds, _ = gen.forward_folds(records, [2013, 2016, 2019], test_from=2019, min_train_events=1)
  validated = np.concatenate([f.validation for f in folds])
  assert len(validated) == len(set(validated)) == int(np.sum(gen.years(records) >= 2013))
  assert folds[-1].name == f'2019-{gen.years(records).max()}'


def test_station_folds_never_train_on_their_own_stations(records):
  folds = gen.station_folds(records, 3, seed=0, test_from=2020)
  station = controls.station_key(records)
  seen = set()
  for fold in folds:
    assert not set(station[fold.train]) & set(station[fold.validation])
    assert gen.years(records)[np.concatenate([fold.train, fold.validation])].max() < 2020
    seen |= set(fold.validation)
  assert seen == set(np.flatnonzero(gen.years(records) < 2020))


def test_shuffled_folds_keep_events_whole(records):
  for fold in gen.shuffled_folds(records, 3, seed=1, test_from=2020):
    assert not set(records.event_ids[fold.train]) & set(records.event_ids[fold.validation])


def test_align_keeps_common_records_in_one_order(records):
  a = records.subset(np.arange(0, len(records) - 3))
  b = records.subset(np.arange(len(records) - 1, 1, -1))
  aligned = gen.align({'a': a, 'b': b})
  assert list(aligned['a'].record_ids) == list(aligned['b'].record_ids) == sorted(
      set(a.record_ids) & set(b.record_ids))
  relabelled = dataclasses.replace(b, labels=1 - np.asarray(b.labels))
  with pytest.raises(ValueError, match='disagree'):
    gen.align({'a': a, 'b': relabelled})


def test_novelty_control_calls_unseen_stations_non_tectonic(records):
  train = records.subset(np.flatnonzero(gen.years(records) < 2016))
  later = records.subset(np.flatnonzero(gen.years(records) >= 2016))
  p = gen.novelty_control(train, later, None)
  novel = ~np.isin(controls.station_key(later), controls.station_key(train))
  assert novel.any() and (~novel).any()
  np.testing.assert_array_equal(p, np.where(novel, 0.0, 1.0))


def test_stack_is_fitted_on_earlier_folds_only(records):
  folds, _ = gen.forward_folds(records, [2013, 2016, 2019], test_from=2019, min_train_events=1)
  rng = np.random.default_rng(0)
  p_a, p_b = rng.uniform(0.05, 0.95, len(records)), rng.uniform(0.05, 0.95, len(records))
  stacked = gen.stack_forward(p_a, p_b, records, folds)
  first = folds[0].validation
  logit = lambda p: np.log(p / (1 - p))
  np.testing.assert_allclose(stacked[first], 1 / (1 + np.exp(-(logit(p_a[first]) + logit(p_b[first])) / 2)))
  # changing the last fold's inputs leaves every earlier fold's stacked probability as it was
  changed_a = p_a.copy()
  changed_a[folds[-1].validation] = 0.5
  again = gen.stack_forward(changed_a, p_b, records, folds)
  earlier = np.concatenate([f.validation for f in folds[:-1]])
  np.testing.assert_array_equal(again[earlier], stacked[earlier])


def test_choose_follows_the_forward_folds_before_the_test_years(records):
  folds, _ = gen.forward_folds(records, [2013, 2016, 2019], test_from=2019, min_train_events=1)
  tectonic = (np.asarray(records.labels) == 0).astype(float)
  before = report.fold_mask(records, folds, test=False)
  good_before = np.where(before, tectonic * 0.8 + 0.1, 1 - tectonic)  # right before the test years, wrong after
  good_after = np.where(before, 1 - tectonic, tectonic)
  assert report.choose(records, {'a': good_before, 'b': good_after}, folds, ['a', 'b']) == 'a'


def test_the_event_rule_is_chosen_by_the_declared_rule_among_the_candidates():
  row = lambda auc, accuracy: {'before test': {'auc': {'estimate': auc}, 'balanced_accuracy': {'estimate': accuracy}},
                               'forward + test': None}
  figures = {'mean_probability': row(0.600, 0.70), 'mean_logit': row(0.598, 0.60), 'snr_weighted': row(0.700, 0.50),
             'learned': row(0.603, 0.65)}
  assert report.choose_rule(figures, ('mean_probability', 'mean_logit', 'snr_weighted', 'learned')) == 'snr_weighted'
  # within TIE of the best event AUC, the higher balanced accuracy: the mean rule over the learned one
  assert report.choose_rule(figures, ('mean_probability', 'mean_logit', 'learned')) == 'mean_probability'
  figures['learned'] = row(0.606, 0.65)  # beyond TIE: the learned rule
  assert report.choose_rule(figures, ('mean_probability', 'mean_logit', 'learned')) == 'learned'
  figures['learned'] = {'before test': None, 'forward + test': None}  # no figures: not a candidate
  assert report.choose_rule(figures, ('mean_probability', 'learned')) == 'mean_probability'


def test_study_of_physics_and_controls_writes_its_tables(records, tmp_path):
  folder = save_prepared(tmp_path / 'set', records)
  settings = ml_collections.ConfigDict({
      'recipes': (), 'all_schemes_networks': (), 'physics_dataset': str(folder),
      'physics_feature_sets': ('ratios', 'bands'), 'controls': ('station novelty', 'station', 'magnitude'),
      'forward_origins': (2013, 2016, 2019), 'min_train_events': 2, 'test_from': 2019, 'station_folds': 2,
      'shuffled_folds': 2, 'seed': 0, 'n_boot': 50})
  results = gen.run_study([], settings, tmp_path / 'study', log=lambda line: None)
  text = (tmp_path / 'study' / 'generalization.md').read_text()
  assert results['best_physics'] in ('physics: ratios', 'physics: bands')
  assert results['winner'] == results['best_physics']
  # the stack of the best network and physics needs a network: none here
  assert results['stack'] is None
  for name in ('physics: ratios', 'control: station novelty', 'control: magnitude'):
    assert f'| {name} |' in text
  assert results['aggregation'][results['winner']]['chosen'] in ('mean_probability', 'mean_logit', 'snr_weighted',
                                                                 'learned')
  assert '| learned |' in text and '| snr_weighted |' in text
  pooled = results['pooled']['physics: bands']
  assert pooled['event']['auc']['low'] <= pooled['event']['auc']['estimate'] <= pooled['event']['auc']['high']
  # rerun: the predictions on disk are read back, the same tables come out
  again = gen.run_study([], settings, tmp_path / 'study', log=lambda line: None)
  assert again['pooled'] == results['pooled']


@pytest.mark.slow
def test_binary_ships_the_chosen_physics_model(records, tmp_path):
  """experiments.generalize --export_pretrained: the winner refitted on every record, loadable, its card honest."""
  options = ingest.PrepareOptions(preprocess=PreprocessConfig(window_s=30.0))
  folder = save_prepared(tmp_path / 'set', dataclasses.replace(records, preprocessing=prepare_settings.settings(options)))
  destination = tmp_path / 'shipped'
  command = [sys.executable, '-m', 'experiments.generalize', '--config=experiments/configs/generalization.py',
             f'--config.workdir={tmp_path / "study"}', '--config.generalization.recipes=()',
             f'--config.generalization.physics_dataset={folder}', '--config.generalization.physics_feature_sets=bands',
             '--config.generalization.controls=station', '--config.generalization.forward_origins=2013,2016,2019',
             '--config.generalization.min_train_events=2', '--config.generalization.test_from=2019',
             '--config.generalization.station_folds=2', '--config.generalization.shuffled_folds=2',
             '--config.generalization.n_boot=50', '--export_pretrained=test', f'--export_destination={destination}']
  done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=300)
  assert done.returncode == 0, done.stderr[-2000:]
  assert 'chosen: physics: bands' in done.stdout and f'shipped {destination}' in done.stdout
  card = json.loads((destination / 'card.json').read_text())
  assert card['kind'] == 'physics' and 'event AUC' in card['limits'][0]
  rule = card['aggregation'] if isinstance(card['aggregation'], str) else card['aggregation']['rule']
  assert rule in ('mean_probability', 'mean_logit', 'learned')
  if rule == 'learned':  # refitted on the record logits' statistics alone
    assert card['aggregation']['parameters']['statistics'] == list(aggregation.STATISTICS)
  classifier = Classifier.pretrained(str(destination))
  p = classifier.probabilities(np.asarray(records.waveforms[:4]))
  assert p.shape == (4,) and np.all((p >= 0) & (p <= 1))


def test_a_stack_is_made_from_predictions_already_known(records, tmp_path):
  folds = {'forward': gen.forward_folds(records, [2013, 2016, 2019], test_from=2019, min_train_events=1)[0]}
  validated = np.concatenate([f.validation for f in folds['forward']])
  rng = np.random.default_rng(1)
  parts = {name: np.where(np.isin(np.arange(len(records)), validated), rng.uniform(0.1, 0.9, len(records)), np.nan)
           for name in ('a', 'b')}
  stack = gen.Method('stack: a + b', 'stack', parts=('a', 'b'), schemes=('forward',))
  out = gen.run_methods([stack], {'r': records}, folds, tmp_path, lambda line: None, known={'forward': parts})
  np.testing.assert_array_equal(np.isfinite(out['forward']['stack: a + b']), np.isfinite(parts['a']))
  assert (tmp_path / 'predictions' / 'forward' / 'stack: a + b.csv').is_file()


def test_a_network_fold_is_the_ensemble_of_the_configs_seeds(tmp_path):
  from experiments.configs import small
  from ganet_jax.evaluation.reports import read_predictions
  records = make_synthetic(14, seed=1, samples=256)
  train, predicted = records.subset(np.arange(24)), records.subset(np.arange(24, len(records)))
  config = small.get_config('cnn_zhu2023')  # the seeds' ensemble is under test, not the network: one block
  config.model.widths, config.model.dense = (4,), ()
  config.seeds = (0, 1)
  fold = gen.Fold('forward_2019', np.arange(24), np.arange(24, len(records)))
  p = gen.network_predictor(config, tmp_path, log=lambda line: None)(train, predicted, fold)
  # the config's own seed (0) keeps the fold's folder; seed 1 trains beside it
  assert sorted(path.name for path in tmp_path.iterdir()) == ['forward_2019', 'forward_2019_seed_1']
  members = [read_predictions(tmp_path / name, predicted) for name in ('forward_2019', 'forward_2019_seed_1')]
  assert json.loads((tmp_path / 'forward_2019_seed_1' / 'config.json').read_text())['config']['seed'] == 1
  assert not np.allclose(members[0], members[1])
  np.testing.assert_allclose(p, np.mean(members, axis=0))
