"""The one configuration path: config files -> ExperimentConfig and the data split, errors naming --config.<field>."""

import dataclasses

import numpy as np
import pytest

from experiments.configs import imbalance, paper, pnw, small
from ganet_jax.data.dataset import dataset_identity, load_split
from ganet_jax.data.records import save_prepared
from ganet_jax.data.synthetic import make_synthetic
from ganet_jax.errors import ConfigError
from ganet_jax.models import model_fields
from ganet_jax.training.config import ExperimentConfig
from ganet_jax.training.experiment import experiment_config


def test_paper_config_is_the_library_default():
  assert experiment_config(paper.get_config()) == ExperimentConfig()


def test_model_fields_are_overridable_and_only_changes_are_kept():
  config = paper.get_config()
  assert config.model.num_bottlenecks == 5 and config.model.cbam_positions == ('bottleneck', 'flatten')
  config.model.num_bottlenecks = 3
  settings = experiment_config(config)
  assert settings.model == 'ganet' and settings.model_overrides == {'num_bottlenecks': 3}
  # a study's GA-Net variant takes the change; another network keeps its own defaults
  assert experiment_config(config, model='ganet_without_cbam').model_overrides == {'num_bottlenecks': 3}
  assert experiment_config(config, model='cnn_zhu2023').model_overrides == {}
  assert experiment_config(config, model_overrides={'head_features': 8}, loss='focal').loss == 'focal'


def test_config_file_argument_picks_the_model_and_its_fields():
  config = paper.get_config('cnn_zhu2023')
  assert dict(config.model) == {'name': 'cnn_zhu2023', **model_fields('cnn_zhu2023')}
  assert experiment_config(config) == ExperimentConfig(model='cnn_zhu2023')


@pytest.mark.parametrize('field, value, named', [
    ('epochs', -1, '--config.epochs'), ('batch_size', 0, '--config.batch_size'),
    ('learning_rate', 0.0, '--config.learning_rate'), ('loss', 'hinge', '--config.loss'),
    ('compute_dtype', 'float16', '--config.compute_dtype'), ('num_devices', 3, '--config.num_devices'),
    ('threshold', 2.0, '--config.threshold')])
def test_bad_settings_name_their_field(field, value, named):
  config = paper.get_config()
  config[field] = value
  with pytest.raises(ConfigError, match=named):
    experiment_config(config)


def test_model_name_must_match_its_fields():
  config = paper.get_config()
  config.model.name = 'nonet'
  with pytest.raises(ConfigError, match="--config.model.name: unknown 'nonet'"):
    experiment_config(config)
  config.model.name = 'cnn_zhu2023'
  with pytest.raises(ConfigError, match=r'--config.model: .*num_bottlenecks.*paper.py:cnn_zhu2023'):
    experiment_config(config)


def test_small_and_study_configs():
  config = small.get_config()
  assert (config.epochs, config.batch_size, config.seeds, config.synthetic.samples) == (1, 4, (0,), 256)
  assert experiment_config(config).model_overrides == {'num_bottlenecks': 1, 'head_features': 16}
  assert small.get_config('cnn_zhu2023').model == paper.get_config('cnn_zhu2023').model
  assert imbalance.get_config().synthetic.num_events == 1500
  assert (pnw.get_config().split.validation_from, pnw.get_config().split.test_from) == ('2020-07-01', '2021-01-01')


def test_invariance_fields_are_dotted_overrides_of_the_small_data_config():
  from experiments.configs import small_data
  from ganet_jax.training.config import apply_overrides
  base = experiment_config(small_data.get_config())
  assert not base.station_balanced_sampling and base.augmentation['response_probability'] == 0.0
  changed = experiment_config(apply_overrides(small_data.get_config(), {
      'station_balanced_sampling': True, 'augmentation.response_probability': 0.5,
      'augmentation.response_tilt_range': (-0.5, 0.5)}))
  assert changed.station_balanced_sampling and changed.augmentation['response_probability'] == 0.5
  assert changed.augmentation['max_shift_s'] == 3.0  # the recipe's other transforms stay
  fusion = experiment_config(apply_overrides(small_data.get_config(), {'model.name': 'ganet_fusion'}))
  assert fusion.model == 'ganet_fusion' and fusion.model_overrides == {'width': 0.25}  # the recipe's narrow GA-Net
  fusion_config = paper.get_config('ganet_fusion')
  fusion_config.model.projection_features = 4
  fusion_config.model.width = 0.5
  # a study row of plain GA-Net takes the fields it shares with the fusion model only
  assert experiment_config(fusion_config, model='ganet').model_overrides == {'width': 0.5}
  bad = apply_overrides(small_data.get_config(), {'augmentation.response_probability': 2.0})
  with pytest.raises(ConfigError, match=r'^--config.augmentation: .*response_probability'):
    experiment_config(bad)


def test_load_split_is_chronological_and_names_the_field(tmp_path):
  config = small.get_config()
  config.synthetic.num_events = 30
  config.synthetic.samples = 32
  train, validation, test = load_split(config)
  assert validation is None and len(train) and len(test)
  assert train.origin_times.max() < np.datetime64('2017-01-01') <= test.origin_times.min()
  config.split.validation_from = '2015-01-01'
  train, validation, test = load_split(config)
  assert train.origin_times.max() < validation.origin_times.min() <= validation.origin_times.max() < \
      test.origin_times.min()
  config.split.test_from = '2030-01-01'
  with pytest.raises(ConfigError, match='--config.split: .*the test split of synthetic is empty'):
    load_split(config)
  config.split.test_from = '2014-01-01'
  with pytest.raises(ConfigError, match='--config.split: .*must increase'):
    load_split(config)
  for dataset, message in ((tmp_path / 'missing', "not 'synthetic' and not a folder"), (tmp_path, 'not a prepared data set')):
    config.dataset = str(dataset)
    with pytest.raises(ConfigError, match=f'--config.dataset: .*{message}'):
      load_split(config)


def test_prepared_dataset_through_the_config(tmp_path):
  records = make_synthetic(8, seed=1, samples=32)
  save_prepared(tmp_path / 'set', records, [])
  config = paper.get_config()
  config.dataset = str(tmp_path / 'set')
  train, _, test = load_split(config)
  assert len(train) + len(test) == len(records)
  assert dataset_identity(config)['path'] == str((tmp_path / 'set').resolve())
  assert dataclasses.asdict(experiment_config(config)) == dataclasses.asdict(ExperimentConfig())


def test_an_override_of_a_missing_field_is_one_line_naming_it():
  import subprocess
  import sys
  done = subprocess.run([sys.executable, '-m', 'experiments.train', '--config.model.nope=3'], capture_output=True,
                        text=True, cwd=__import__('pathlib').Path(__file__).resolve().parents[1], timeout=300)
  assert done.returncode != 0
  assert done.stderr.strip().splitlines() == [
      "--config.model.nope=3: no field 'nope' in the config (see experiments/configs/paper.py)"]


def test_default_verbosity_keeps_the_librarys_info_lines_and_other_libraries_warnings():
  import logging
  from experiments.configs import PROJECT_DIR, OwnInfoOnly
  record = lambda level, path: logging.LogRecord('absl', level, str(path), 1, 'line', None, None)
  passes = OwnInfoOnly().filter
  assert passes(record(logging.INFO, PROJECT_DIR / 'ganet_jax' / 'progress.py'))
  assert passes(record(logging.INFO, PROJECT_DIR / 'experiments' / 'train.py'))
  assert not passes(record(logging.INFO, '/site-packages/orbax/checkpoint/checkpoint_manager.py'))
  assert passes(record(logging.WARNING, '/site-packages/orbax/checkpoint/checkpoint_manager.py'))


def test_the_threshold_and_learning_rate_defaults_are_the_conventions():
  import inspect
  from ganet_jax import conventions
  from ganet_jax.classify import export, members
  from ganet_jax.evaluation import intervals, metrics, reports
  from ganet_jax.studies import cross_validation
  from ganet_jax.training import step
  from ganet_jax.training.config import ExperimentConfig
  takes_threshold = [metrics.confusion, metrics.classification_metrics, metrics.collapsed_to_one_class,
                     metrics.weighted_rates, metrics.event_metrics, reports.validation_report, reports.evaluation_report,
                     intervals.bootstrap_metric, intervals.paired_bootstrap_difference, intervals.summary_with_intervals,
                     cross_validation.fold_metrics,
                     export.export_physics_pretrained, members.physics_member]
  for function in takes_threshold:
    assert inspect.signature(function).parameters['threshold'].default is conventions.THRESHOLD, function.__name__
  assert ExperimentConfig().threshold is conventions.THRESHOLD and members.Member.threshold is conventions.THRESHOLD
  assert inspect.signature(step.create_train_state).parameters['learning_rate'].default is conventions.PAPER_LEARNING_RATE
  assert ExperimentConfig().learning_rate is conventions.PAPER_LEARNING_RATE == paper.get_config().learning_rate
