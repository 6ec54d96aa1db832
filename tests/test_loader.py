import numpy as np
import pytest

from ganet_jax.data import RecordSet, load_prepared, save_prepared
from ganet_jax.data.loader import batches, epoch_order, prefetch


def _records(n=10, length=8):
  return RecordSet(
      waveforms=np.arange(n * length * 3, dtype=np.float32).reshape(n, length, 3),
      labels=(np.arange(n) % 2).astype(np.int32), event_ids=np.array([f'e{i}' for i in range(n)]),
      origin_times=np.full(n, np.datetime64('2015-01-01', 'ms')), event_types=np.array(['earthquake'] * n),
      record_ids=np.array([f'r{i}' for i in range(n)]))


def test_batches_are_fixed_size_padded_and_in_order(tmp_path):
  records = load_prepared(save_prepared(tmp_path / 's', _records()))
  indices = np.array([7, 2, 9, 0, 5, 3, 1])
  got = list(batches(records, indices, batch_size=3))
  assert [b.waveforms.shape for b in got] == [(3, 8, 3)] * 3
  assert [b.mask.tolist() for b in got] == [[1, 1, 1], [1, 1, 1], [1, 0, 0]]
  stacked = np.concatenate([b.waveforms for b in got])[:7]
  np.testing.assert_array_equal(stacked, records.waveforms[indices])
  np.testing.assert_array_equal(np.concatenate([b.labels for b in got])[:7], records.labels[indices])
  assert not got[-1].waveforms[1:].any()


def test_epoch_order_depends_only_on_seed_and_epoch():
  a, b = epoch_order(50, seed=3, epoch=2), epoch_order(50, seed=3, epoch=2)
  np.testing.assert_array_equal(a, b)
  assert sorted(a) == list(range(50))
  assert not np.array_equal(a, epoch_order(50, seed=3, epoch=3))
  assert not np.array_equal(a, epoch_order(50, seed=4, epoch=2))


def test_prefetch_preserves_items_and_reraises():
  assert list(prefetch(iter(range(20)), size=3)) == list(range(20))
  assert list(prefetch(range(5), size=0)) == list(range(5))

  def broken():
    yield 1
    raise OSError('disk went away at record 2')

  stream = prefetch(broken(), size=2)
  assert next(stream) == 1
  with pytest.raises(OSError, match='record 2'):
    next(stream)


def test_bad_batch_size():
  with pytest.raises(ValueError, match='batch_size must be positive'):
    next(batches(_records(), np.arange(3), 0))


def test_balanced_order_draws_classes_equally_and_is_replayable():
  from ganet_jax.data.loader import balanced_epoch_order
  labels = np.array([0] * 90 + [1] * 10)
  order = balanced_epoch_order(labels, 4000, seed=3, epoch=2)
  share = labels[order].mean()
  assert 0.45 < share < 0.55
  np.testing.assert_array_equal(order, balanced_epoch_order(labels, 4000, seed=3, epoch=2))
  assert not np.array_equal(order, balanced_epoch_order(labels, 4000, seed=3, epoch=3))
