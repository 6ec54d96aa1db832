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
