import numpy as np

from ganet_jax.data import RecordSet
from ganet_jax.data.augment import add_noise, oversample_minority, time_shift


def test_time_shift_delays_and_zero_fills():
  x = np.arange(1, 31, dtype=np.float32).reshape(10, 3)
  out = time_shift(x, np.random.default_rng(0), max_shift=4)
  shift = int(np.argmax(out[:, 0] != 0))
  assert 1 <= shift <= 4
  assert not out[:shift].any()
  np.testing.assert_array_equal(out[shift:], x[:-shift])


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
