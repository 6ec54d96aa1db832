"""Cross-validation: folds keep events whole and equal across recipes, sources only train, reruns resume."""

import json

import numpy as np
import pytest

from experiments.configs import small, small_data
from ganet_jax.data.records import RecordSet
from ganet_jax.errors import ConfigError
from ganet_jax.evaluation.reports import read_predictions
from ganet_jax.studies import cross_validation as cv
from ganet_jax.training.config import apply_overrides


def _with_sources(records: RecordSet) -> RecordSet:
  """Even events from source 'a', odd ones from 'b'."""
  _, event_index = np.unique(records.event_ids, return_inverse=True)
  source = np.where(event_index % 2 == 0, 'a', 'b')
  return RecordSet(waveforms=records.waveforms, labels=records.labels, event_ids=records.event_ids,
                   origin_times=records.origin_times, event_types=records.event_types,
                   record_ids=records.record_ids, extra={**records.extra, 'source': source})


def test_fold_records_validate_one_source_and_never_share_an_event():
  config = small.get_config()
  pool = _with_sources(cv.training_pool(config))
  fold_of_event = cv.fold_assignment([pool], 2, seed=0, validate_sources=('a',))
  seen = []
  for fold in range(2):
    train, validation = cv.fold_records(pool, fold_of_event, fold, validate_sources=('a',))
    assert set(validation.sources) == {'a'}
    assert not set(train.event_ids) & set(validation.event_ids)
    assert 'b' in set(train.sources)  # the other source only trains
    seen += list(validation.record_ids)
    only_a, _ = cv.fold_records(pool, fold_of_event, fold, validate_sources=('a',), train_sources=('a',))
    assert set(only_a.sources) == {'a'}
  a_records = pool.record_ids[pool.sources == 'a']
  assert sorted(seen) == sorted(a_records)  # every validated record in exactly one fold


@pytest.mark.slow  # two recipes x two folds trained, then resumed: the suite's longest test
def test_cross_validate_two_recipes_writes_tables_and_resumes(tmp_path):
  config = small.get_config()
  config.cv = small_data.get_config().cv
  recipes = [cv.Recipe('plain', config),
             cv.Recipe('smoothed', apply_overrides(config, {'label_smoothing': 0.1, 'weight_decay': 1e-4}))]
  results = cv.cross_validate(recipes, num_folds=2, seed=0, workdir=tmp_path, physics_config=config,
                              physics_feature_sets=('ratios', 'bands'), log=lambda line: None)
  assert set(results['recipes']) == {'plain', 'smoothed'} and set(results['physics']) == {'ratios', 'bands'}
  for entry in [*results['recipes'].values(), *results['physics'].values()]:
    assert len(entry['folds']) == 2 and entry['summary']['event_auc']['n'] <= 2
  # both recipes were validated on the same records
  val = lambda name, k: json.loads((tmp_path / name / f'fold_{k}' / 'config.json').read_text())['data']['test']
  assert val('plain', 0) == val('smoothed', 0) and val('plain', 0) != val('plain', 1)
  assert results['best'] in {'plain', 'smoothed'}
  assert '| plain |' in (tmp_path / 'cv.md').read_text() and '| physics: bands |' in (tmp_path / 'cv.md').read_text()
  lines = []
  again = cv.cross_validate(recipes, num_folds=2, seed=0, workdir=tmp_path, log=lines.append)
  assert not any(line.startswith('epoch') for line in lines)  # every fold resumed at its end
  assert again['recipes']['plain']['summary'] == results['recipes']['plain']['summary']
  # a second training seed: the first seed's runs are reused, each fold scores the two seeds' mean
  lines = []
  two = cv.cross_validate(recipes[:1], num_folds=2, seed=0, workdir=tmp_path, seeds=(0, 1), log=lines.append)
  assert sum(line.startswith('epoch') for line in lines) == 2  # one epoch for each fold's new seed
  for k in range(2):
    folder = lambda name: tmp_path / 'plain' / name
    assert json.loads((folder(f'fold_{k}_seed_1') / 'config.json').read_text())['config']['seed'] == 1
    _, validation = cv.fold_records(cv.training_pool(config), results['fold_of_event'], k)
    means = np.mean([read_predictions(folder(name), validation) for name in (f'fold_{k}', f'fold_{k}_seed_1')], axis=0)
    assert two['recipes']['plain']['folds'][k] == cv.fold_metrics(validation, means)
  assert 'training seeds 0, 1' in (tmp_path / 'cv.md').read_text()


def test_overrides_name_unknown_fields():
  with pytest.raises(ConfigError, match='--config.augmentation.nope'):
    apply_overrides(small_data.get_config(), {'augmentation.nope': 1})
  for name, overrides in small_data.RECIPES.items():
    apply_overrides(small_data.get_config(), overrides)  # every shipped recipe applies
