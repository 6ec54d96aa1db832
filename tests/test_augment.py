import functools

import numpy as np
import pytest

from ganet_jax.data import RecordSet
from ganet_jax.data.augment import add_noise, oversample_minority, time_shift


def test_time_shift_delays_and_zero_fills():
  x = np.arange(1, 31, dtype=np.float32).reshape(10, 3)
  out = time_shift(x, np.random.default_rng(0), max_shift_s=0.04, sampling_rate=100.0)
  shift = int(np.argmax(out[:, 0] != 0))
  assert 1 <= shift <= 4
  assert not out[:shift].any()
  np.testing.assert_array_equal(out[shift:], x[:-shift])
  with pytest.raises(ValueError, match='does not fit a record of 10 samples'):
    time_shift(x, np.random.default_rng(0), max_shift_s=0.1, sampling_rate=100.0)


def _impulse_records(rate, n=40, samples=200, at=20):
  """``n`` records with an impulse at sample ``at`` (where it lands is the shift), 30 tectonic and 10 not."""
  waveforms = np.zeros((n, samples, 3), np.float32)
  waveforms[:, at] = 1.0
  labels = np.array([0] * (n - n // 4) + [1] * (n // 4), np.int32)
  return RecordSet(waveforms, labels, np.array([f'e{i}' for i in range(n)]),
                   np.full(n, np.datetime64('2015-01-01', 'ms')), np.where(labels == 0, 'earthquake', 'explosion'),
                   np.array([f'r{i}' for i in range(n)]), preprocessing={'preprocess': {'sampling_rate': rate}})


def test_time_shift_is_seconds_at_the_records_rate():
  # 40 Hz: a delay of up to 0.5 s is 1..20 samples (at 100 Hz it would be up to 50).
  x = _impulse_records(40.0).waveforms[0]
  moved = [int(np.argmax(time_shift(x, rng, max_shift_s=0.5, sampling_rate=40.0)[:, 0])) - 20
           for rng in map(np.random.default_rng, range(300))]
  assert min(moved) >= 1 and max(moved) == 0.5 * 40


def test_time_shifted_minority_copies_move_by_seconds_at_the_sets_rate():
  # Table 4's time shifting: minority copies of a 40-Hz set, shifted by up to 1 s = 40 samples.
  records = _impulse_records(40.0)
  shift = functools.partial(time_shift, max_shift_s=1.0, sampling_rate=records.sampling_rate)
  out = oversample_minority(records, shift, seed=0)
  assert out.class_counts() == (30, 30)
  moved = np.argmax(out.waveforms[len(records):, :, 0], axis=1) - 20
  assert moved.min() >= 1 and moved.max() <= 40 and moved.max() > 20


def test_noise_has_the_requested_snr():
  rng = np.random.default_rng(0)
  x = rng.standard_normal((20000, 3)).astype(np.float32) * [1, 5, 0.1]
  noise = add_noise(x, np.random.default_rng(1), snr_db=20) - x
  np.testing.assert_allclose(noise.std(0) / x.std(0), 0.1, rtol=0.05)


def test_oversampling_balances_and_keeps_events():
  n = 10
  labels = np.array([0] * 7 + [1] * 3, np.int32)
  records = RecordSet(np.random.default_rng(0).standard_normal((n, 50, 3)).astype(np.float32), labels,
                      np.array([f'e{i // 2}' for i in range(n)]), np.full(n, np.datetime64('2015-01-01', 'ms')),
                      np.where(labels == 0, 'earthquake', 'explosion'), np.array([f'r{i}' for i in range(n)]))
  out = oversample_minority(records, lambda w, rng: w * 2, seed=0)
  assert out.class_counts() == (7, 7)
  added = out.record_ids[n:]
  sources, copies = np.unique([r.split('#')[0] for r in added], return_counts=True)
  assert list(sources) == ['r7', 'r8', 'r9'] and copies.max() - copies.min() <= 1
  for i, record_id in enumerate(added):
    source = int(record_id.split('#')[0][1:])
    np.testing.assert_array_equal(out.waveforms[n + i], records.waveforms[source] * 2)
    assert out.event_ids[n + i] == records.event_ids[source]
  assert oversample_minority(out, lambda w, rng: w, seed=0) is out


def test_batch_augmentation_is_seeded_keeps_padding_and_a_live_channel():
  from ganet_jax.data.augment import Augmentation, augment_batch
  rng = np.random.default_rng(0)
  x = rng.standard_normal((6, 400, 3)).astype(np.float32)
  x[:, :, 1:] = 0.0  # vertical-only records, N and E zero-filled
  mask = np.array([1, 1, 1, 1, 1, 0], np.float32)
  x[5] = 0.0
  aug = Augmentation(max_shift_s=0.5, scale_range=(0.5, 2.0), random_polarity=True, snr_db_range=(10, 20),
                     channel_dropout=0.9, sampling_rate=100.0)
  a = augment_batch(x, aug, np.random.default_rng(7), mask)
  b = augment_batch(x, aug, np.random.default_rng(7), mask)
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, augment_batch(x, aug, np.random.default_rng(8), mask))
  assert a.dtype == np.float32 and a.shape == x.shape
  assert np.all(a[5] == 0)                       # padding stays padding
  assert np.all(np.any(a[:5, :, 0] != 0, axis=1))  # the only live channel is never dropped
  assert np.all(a[:, :, 1:] == 0)                 # dead channels get no noise
  # the identity augmentation changes nothing
  np.testing.assert_array_equal(augment_batch(x, Augmentation(sampling_rate=100.0), np.random.default_rng(0)), x)
  assert not Augmentation(sampling_rate=100.0).active and aug.active


def test_shift_moves_records_both_ways_with_zero_fill():
  from ganet_jax.data.augment import shift_records
  x = np.arange(1, 11, dtype=np.float32).reshape(1, 10, 1).repeat(2, 0)
  out = shift_records(x, np.array([3, -2]))
  np.testing.assert_array_equal(out[0, :, 0], [0, 0, 0, 1, 2, 3, 4, 5, 6, 7])
  np.testing.assert_array_equal(out[1, :, 0], [3, 4, 5, 6, 7, 8, 9, 10, 0, 0])


def test_bad_augmentation_settings_are_named():
  from ganet_jax.data.augment import Augmentation
  for bad, field in [(dict(scale_range=(2.0, 1.0)), 'scale_range'), (dict(max_shift_s=-1), 'max_shift_s'),
                     (dict(channel_dropout=1.0), 'channel_dropout'), (dict(snr_db_range=(30, 10)), 'snr_db_range'),
                     (dict(sampling_rate=0.0), 'sampling_rate')]:
    try:
      Augmentation(**{'sampling_rate': 100.0, **bad})
    except ValueError as error:
      assert field in str(error)
    else:
      raise AssertionError(f'{bad} accepted')


def test_training_shifts_are_seconds_at_the_prepared_sets_rate():
  # A 40-Hz prepared set: a shift of up to 0.5 s is at most 20 samples, not the 50 of 100 Hz.
  from ganet_jax.data.augment import augment_batch, augmentation_of
  n = 64
  records = RecordSet(np.zeros((n, 400, 3), np.float32), np.zeros(n, np.int32), np.array([f'e{i}' for i in range(n)]),
                      np.full(n, np.datetime64('2015-01-01', 'ms')), np.array(['earthquake'] * n),
                      np.array([f'r{i}' for i in range(n)]), preprocessing={'preprocess': {'sampling_rate': 40.0}})
  assert records.sampling_rate == 40.0 and records.subset([0]).sampling_rate == 40.0
  assert RecordSet.unlabeled(records.waveforms).sampling_rate == 100.0  # unknown: the paper's rate
  augmentation = augmentation_of({'max_shift_s': 0.5}, records.sampling_rate)
  x = np.zeros((n, 400, 1), np.float32)
  x[:, 200] = 1.0  # an impulse at the middle: where it lands is the shift
  moved = np.argmax(augment_batch(x, augmentation, np.random.default_rng(0))[:, :, 0], axis=1) - 200
  assert np.abs(moved).max() == 20
