import numpy as np
import pytest

from ganet_jax.data import RecordSet
from ganet_jax.data.splits import event_grouped_folds


def _records(labels_per_event, per_event=2):
  n = len(labels_per_event) * per_event
  events = np.repeat([f'ev{i}' for i in range(len(labels_per_event))], per_event)
  return RecordSet(waveforms=np.zeros((n, 8, 1), np.float32), labels=np.repeat(labels_per_event, per_event),
                   event_ids=events, origin_times=np.repeat(np.arange(len(labels_per_event)), per_event).astype(
                       'datetime64[D]'), event_types=np.full(n, 'x'), record_ids=np.arange(n).astype(str))


def test_folds_partition_records_keep_events_whole_and_spread_classes():
  records = _records([0] * 9 + [1] * 6)
  folds = event_grouped_folds(records, 3, seed=0)
  assert sorted(np.concatenate(folds).tolist()) == list(range(len(records)))
  for fold in folds:
    inside = set(records.event_ids[fold])
    outside = set(np.delete(records.event_ids, fold))
    assert not inside & outside
    assert sorted(np.bincount(records.labels[fold], minlength=2) // 2) == [2, 3]  # 3 eq + 2 ex events each
  again = event_grouped_folds(records, 3, seed=0)
  assert all(np.array_equal(a, b) for a, b in zip(folds, again))
  other = event_grouped_folds(records, 3, seed=1)
  assert not all(np.array_equal(a, b) for a, b in zip(folds, other))


def test_too_few_events_of_a_class_is_refused():
  with pytest.raises(ValueError, match='class 1'):
    event_grouped_folds(_records([0] * 6 + [1] * 2), 3, seed=0)


def test_the_random_split_is_stratified_by_class_and_grouped_by_event():
  # classes in different years (as eus-sac): 3 tectonic events, then 4 non-tectonic ones
  from ganet_jax.data.splits import event_grouped_random_split
  records = _records([0] * 3 + [1] * 4, per_event=3)
  for seed in range(5):
    split = event_grouped_random_split(records, [0.7, 0.3], seed=seed)
    assert sorted(np.concatenate(list(split.values())).tolist()) == list(range(len(records)))
    assert not set(records.event_ids[split['train']]) & set(records.event_ids[split['test']])
    for name, index in split.items():
      assert set(records.labels[index].tolist()) == {0, 1}, (seed, name)
    assert len(set(records.event_ids[split['test']])) == 2  # round(0.3 * 3) + round(0.3 * 4) events


def _config(dataset, **split):
  from experiments.configs import small
  config = small.get_config()
  config.dataset = str(dataset)
  config.split.update(split)
  return config


def _prepared_with_split(folder, column):
  from ganet_jax.data.records import save_prepared
  from ganet_jax.data.synthetic import make_synthetic
  import dataclasses
  records = make_synthetic(12, seed=0, samples=64)
  records = dataclasses.replace(records, extra={**records.extra, 'split': column(records)})
  save_prepared(folder, records)
  return records


def test_training_takes_a_prepared_split_column_unless_told_to_split_by_origin_time(tmp_path):
  from ganet_jax.data.dataset import load_split
  from ganet_jax.errors import ConfigError
  by_event = lambda records: np.array(['test' if int(e[-1]) % 3 == 0 else 'validation' if int(e[-1]) % 3 == 1
                                       else 'train' for e in records.event_ids.astype(str)])
  records = _prepared_with_split(tmp_path / 'set', by_event)
  lines = []
  split = load_split(_config(tmp_path / 'set'), log=lines.append)
  column = by_event(records)
  for name in ('train', 'validation', 'test'):
    assert sorted(getattr(split, name).record_ids.tolist()) == sorted(records.record_ids[column == name].tolist())
  assert lines and lines[0].startswith("split by the prepared set's split column (split): train")
  lines.clear()
  chronological = load_split(_config(tmp_path / 'set', by='origin_time', test_from='2015-01-01'), log=lines.append)
  assert chronological.validation is None and lines[0].startswith('split by event origin time')
  assert np.all(chronological.test.origin_times >= np.datetime64('2015-01-01'))
  with pytest.raises(ConfigError, match="--config.split.by: 'years': one of split_column, origin_time"):
    load_split(_config(tmp_path / 'set', by='years'))
  seisbench_names = lambda records: np.char.replace(by_event(records), 'validation', 'dev')
  _prepared_with_split(tmp_path / 'seisbench', seisbench_names)
  from_seisbench = load_split(_config(tmp_path / 'seisbench'))
  assert sorted(from_seisbench.validation.record_ids.tolist()) == sorted(records.record_ids[column == 'validation'])
  _prepared_with_split(tmp_path / 'named', lambda records: np.where(np.arange(len(records)) % 2, 'fit', 'holdout'))
  with pytest.raises(ConfigError, match='the split column holds fit, holdout; training reads train, test'):
    load_split(_config(tmp_path / 'named'))
  with pytest.raises(ConfigError, match='split.by: split_column: synthetic has no split column'):
    load_split(_config('synthetic', by='split_column'))
