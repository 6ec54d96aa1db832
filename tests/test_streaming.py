"""A set on disk is read a batch or a bounded chunk at a time: training, classify and cross-validation on shards."""

import dataclasses
import json

import numpy as np
import pytest

from conftest import tiny_run_inputs
from experiments.configs import small
from ganet_jax.classify import Classifier
from ganet_jax.classify import classifier as classifier_lib
from ganet_jax.data import record_array, shards
from ganet_jax.data.augment import Augmentation, augment_batches
from ganet_jax.data.dataset import load_split
from ganet_jax.data.loader import Batch, batches
from ganet_jax.data.record_array import RecordArray
from ganet_jax.data.records import load_prepared, save_prepared
from ganet_jax.data.synthetic import make_synthetic
from ganet_jax.evaluation.reports import read_predictions
from ganet_jax.studies import cross_validation as cv
from ganet_jax.training import experiment
from ganet_jax.training.config import ExperimentConfig

TIMING = ('test_records_per_second', 'records_per_second', 'seconds', 'peak_rss_mib')


@pytest.fixture
def largest_read(monkeypatch):
  """Records scans read at most 3 at a time; returns the list of how many records each read of a RecordArray took."""
  reads = []
  read = RecordArray._read

  def counted(self, positions):
    reads.append(len(positions))
    return read(self, positions)

  monkeypatch.setattr(RecordArray, '_read', counted)
  monkeypatch.setattr(record_array, 'CHUNK_BYTES', 1)  # one record per chunk of every scan
  return reads


def test_batches_read_only_their_records_and_a_process_only_its_rows(tmp_path, largest_read):
  records = make_synthetic(6, seed=0, samples=64)
  loaded = load_prepared(shards.write_sharded(tmp_path, records, shard_records=5))
  largest_read.clear()
  order = np.random.default_rng(0).permutation(len(records))
  got = list(batches(loaded, order, 4))
  assert max(largest_read) == 4 and len(largest_read) == len(got)
  for number, batch in enumerate(got):
    chunk = order[4 * number:4 * number + 4]
    np.testing.assert_array_equal(batch.waveforms[:len(chunk)], records.waveforms[chunk])
  largest_read.clear()
  mine = list(batches(loaded, order, 4, rows=slice(2, 4)))
  assert max(largest_read) == 2
  for whole, part in zip(got, mine):
    np.testing.assert_array_equal(part.waveforms, whole.waveforms[2:4])
    np.testing.assert_array_equal(part.mask, whole.mask[2:4])
  with pytest.raises(ValueError, match='not a run of rows'):
    next(batches(loaded, order, 4, rows=slice(0, 4, 2)))


def test_each_process_draws_its_own_augmentation():
  batch = Batch(np.ones((2, 50, 3), np.float32), np.zeros(2, np.int32), np.ones(2, np.float32))
  augmentation = Augmentation(sampling_rate=10.0, snr_db_range=(0.0, 10.0))
  draw = lambda part: next(augment_batches([batch], augmentation, seed=0, epoch=1, part=part)).waveforms
  np.testing.assert_array_equal(draw(0), draw(0))
  assert not np.allclose(draw(0), draw(2))


def _config_on(folder):
  config = small.get_config()
  config.dataset = str(folder)
  config.split.validation_from = None
  config.split.test_from = '2016-01-01'
  return config


def test_training_on_a_sharded_set_equals_training_in_memory(tmp_path, largest_read):
  records = make_synthetic(12, seed=1, samples=128)
  folder = shards.write_sharded(tmp_path / 'set', records, shard_records=7)
  split = load_split(_config_on(folder))
  assert isinstance(split.train.waveforms, RecordArray)  # the split is indices into the shards, not a copy
  in_memory = [records.subset(np.flatnonzero(np.isin(records.record_ids, part.record_ids)))
               for part in (split.train, split.test)]
  # a one-block plain CNN: where the records come from is under test, not the network
  config = ExperimentConfig(model='cnn_zhu2023', model_overrides={'widths': (4,), 'pool': 4, 'dense': ()}, epochs=1,
                            batch_size=8, learning_rate=1e-3, augmentation={'snr_db_range': (10.0, 20.0)})
  largest_read.clear()
  on_disk = experiment.run(config, split.train, split.test, tmp_path / 'disk', log=lambda line: None)
  assert largest_read and max(largest_read) <= config.batch_size
  from_memory = experiment.run(config, *in_memory, tmp_path / 'memory', log=lambda line: None)
  drop = lambda result: json.dumps({k: v for k, v in result.items() if k not in TIMING}, sort_keys=True)
  assert drop(on_disk) == drop(from_memory)
  np.testing.assert_array_equal(read_predictions(tmp_path / 'disk', split.test),
                                read_predictions(tmp_path / 'memory', in_memory[1]))
  # the same records: the run folder's fingerprints (windows hash included) agree
  settings = lambda name: json.loads((tmp_path / name / 'config.json').read_text())['data']
  assert settings('disk') == settings('memory')


def test_classifying_a_sharded_set_reads_it_a_chunk_at_a_time(tiny_run, tmp_path, largest_read, monkeypatch):
  _, records, _ = tiny_run_inputs()
  records = dataclasses.replace(records, preprocessing=None)  # its settings are of 100-s windows, not these
  loaded = load_prepared(shards.write_sharded(tmp_path, records, shard_records=4))
  classifier = Classifier.from_checkpoint(tiny_run)
  expected = classifier.probabilities(records.waveforms)
  monkeypatch.setattr(classifier_lib, 'RECORDSET_CHUNK', 3)
  largest_read.clear()
  np.testing.assert_allclose(classifier.probabilities(loaded), expected, rtol=0, atol=1e-6)
  assert max(largest_read) <= 3


def test_cross_validation_on_a_sharded_set_equals_the_single_file_set(tmp_path, largest_read):
  records = make_synthetic(14, seed=2, samples=400)
  single = _config_on(save_prepared(tmp_path / 'single', records))
  sharded = _config_on(shards.write_sharded(tmp_path / 'sharded', records, shard_records=6))
  results = {}
  for name, config in (('single', single), ('sharded', sharded)):
    largest_read.clear()
    results[name] = cv.cross_validate([], num_folds=2, seed=0, workdir=tmp_path / f'cv_{name}',
                                      physics_config=config, physics_feature_sets=('ratios',), log=lambda line: None)
    assert results[name]['physics']['ratios']['folds']
  assert max(largest_read) == 1  # the features were computed a chunk (here one record) at a time
  assert json.dumps(results['single'], sort_keys=True) == json.dumps(results['sharded'], sort_keys=True)
