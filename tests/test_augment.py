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


def _white(n=4, length=800, seed=0):
  x = np.random.default_rng(seed).standard_normal((n, length, 3)).astype(np.float32)
  x[:, :, 1:] = 0.0  # vertical-only records
  return x


def test_response_gains_are_butterworth_corners_times_a_tilt():
  from ganet_jax.data.augment import response_gains
  f = np.array([0.0, 1.0, 2.0, 4.0, 8.0, 16.0])
  gains = response_gains(f, low_hz=[2.0, 0.0, 0.0], high_hz=[np.inf, 8.0, np.inf], orders=[2, 1, 1],
                         tilts=[0.0, 0.0, 1.0])
  assert gains[0, 0] == 0 and gains[0, 2] == pytest.approx(2 ** -0.5)  # high-pass: nothing at 0 Hz, -3 dB at the corner
  assert gains[0, 1] == pytest.approx(1 / np.sqrt(1 + 2.0 ** 4))      # order 2 below the corner
  assert gains[1, 4] == pytest.approx(2 ** -0.5) and gains[1, 0] == 1  # low-pass
  np.testing.assert_allclose(gains[2, 1:], f[1:])                       # f^1
  assert gains[2, 0] == pytest.approx(0.5)                             # held at the floor below 0.5 Hz


def test_random_responses_change_the_spectrum_by_a_smooth_gain_at_the_same_rms():
  from ganet_jax.data.augment import Augmentation, augment_batch
  x = _white()
  aug = Augmentation(response_probability=1.0, sampling_rate=100.0)
  assert aug.active
  out = augment_batch(x, aug, np.random.default_rng(3))
  assert out.dtype == np.float32 and np.all(out[:, :, 1:] == 0)  # zero channels stay zero
  # amplitude normalised: each live channel keeps its RMS
  rms = lambda a: np.sqrt(np.mean(np.square(a[:, :, 0], dtype=np.float64), axis=1))
  np.testing.assert_allclose(rms(out), rms(x), rtol=1e-4)
  freqs = np.fft.rfftfreq(x.shape[1], 1 / 100.0)
  band = (freqs >= 1) & (freqs <= 15)
  ratio = np.abs(np.fft.rfft(out[:, :, 0], axis=1)) / np.abs(np.fft.rfft(x[:, :, 0], axis=1))
  log_ratio = np.log(ratio[:, band])
  assert np.all(np.ptp(log_ratio, axis=1) > 0.2)  # the shape changed ...
  # ... by a smooth gain: its total variation is a few nats where white noise's own spectrum jumps by O(1) per bin
  variation = lambda a: np.abs(np.diff(a, axis=1)).sum(axis=1)
  assert np.all(variation(log_ratio) < 0.1 * variation(np.log(np.abs(np.fft.rfft(x[:, :, 0], axis=1))[:, band])))
  # seeded: the same draws give the same records, others other ones
  np.testing.assert_array_equal(out, augment_batch(x, aug, np.random.default_rng(3)))
  assert not np.allclose(out, augment_batch(x, aug, np.random.default_rng(4)))


def test_responses_use_the_records_rate_and_leave_the_other_draws_alone():
  from ganet_jax.data.augment import Augmentation, augment_batch
  x = _white(n=2)
  # a low-pass at 2-3 Hz on 20-Hz records, no tilt: little above 6 Hz remains
  aug = Augmentation(response_probability=1.0, response_low_hz=None, response_high_hz=(2.0, 3.0),
                     response_orders=(4, 4), response_tilt_range=None, sampling_rate=20.0)
  out = augment_batch(x, aug, np.random.default_rng(0))
  spectrum = np.abs(np.fft.rfft(out[:, :, 0], axis=1)) ** 2
  freqs = np.fft.rfftfreq(x.shape[1], 1 / 20.0)
  assert spectrum[:, freqs > 6].sum() < 1e-3 * spectrum.sum()
  # probability 0 draws nothing more: the other transforms' stream is unchanged
  base = dict(scale_range=(0.5, 2.0), snr_db_range=(10, 20), sampling_rate=100.0)
  np.testing.assert_array_equal(augment_batch(x, Augmentation(**base), np.random.default_rng(5)),
                                augment_batch(x, Augmentation(**base, response_probability=0.0),
                                              np.random.default_rng(5)))


def test_bad_response_settings_are_named_and_empty_ranges_mean_none():
  from ganet_jax.data.augment import Augmentation, augmentation_of
  for bad, field in [(dict(response_probability=1.5), 'response_probability'),
                     (dict(response_low_hz=(0.0, 1.0)), 'response_low_hz'),
                     (dict(response_low_hz=(5.0, 9.0)), 'response_low_hz'),
                     (dict(response_high_hz=(9.0, 8.0)), 'response_high_hz'),
                     (dict(response_orders=(0, 2)), 'response_orders'),
                     (dict(response_orders=(1.5, 2)), 'response_orders'),
                     (dict(response_tilt_range=(1.0, -1.0)), 'response_tilt_range')]:
    with pytest.raises(ValueError, match=field):
      Augmentation(**{'sampling_rate': 100.0, **bad})
  aug = augmentation_of({'response_probability': 0.5, 'response_low_hz': [], 'response_tilt_range': [],
                         'response_orders': [2, 3]}, 100.0)
  assert aug.response_low_hz is None and aug.response_tilt_range is None and aug.response_orders == (2, 3)
