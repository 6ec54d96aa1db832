"""Augmentation: Table 4's minority copies on disk, and the small-data recipe's on-the-fly batch transforms.

``oversample_minority`` copies minority records with a time shift or added noise
(copies keep their source's event id, so an event never straddles splits through
its augmented copies; record ids get a ``#aug<k>`` suffix). ``augment_batch``
transforms every training batch anew instead, in the input path: nothing is
copied, and each batch's draws come from a generator seeded by (seed, epoch,
step), so a fixed seed gives the same augmented stream and a resumed run replays it.

Among the batch transforms, ``response_probability`` filters records by random smooth
instrument-like responses (``response_gains``: a band-pass of random corners and
order, a random spectral tilt), so a network cannot tell a station by the shape its
instrument gives every spectrum.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterable, Iterator, Mapping

import numpy as np

from ganet_jax.json_settings import as_tuples
from ganet_jax.data.loader import Batch
from ganet_jax.data.records import RecordSet

Transform = Callable[[np.ndarray, np.random.Generator], np.ndarray]

# Below this the tilt f^alpha is held at its value here: band-passed records hold little
# there but residual long-period noise, which a negative tilt would otherwise blow up.
TILT_FLOOR_HZ = 0.5


def time_shift(waveform: np.ndarray, rng: np.random.Generator, *, max_shift_s: float = 5.0,
               sampling_rate: float) -> np.ndarray:
  """Delay the record by a random 1 sample to ``max_shift_s`` seconds, zero-filling the start.

  Shifting later, not earlier, keeps the P onset inside the window; zeros rather
  than a circular roll, so the coda does not wrap around to precede the P wave.

  Args:
    waveform: one (time, channels) record.
    rng: the generator of the delay.
    max_shift_s: the largest delay, seconds (the paper's 5 s by default).
    sampling_rate: the record's rate, Hz (``RecordSet.sampling_rate``).

  Returns:
    The delayed record, of ``waveform``'s shape and dtype.

  Raises:
    ValueError: when the largest delay is not shorter than the record.
  """
  max_shift = max(1, int(round(max_shift_s * sampling_rate)))
  if max_shift >= len(waveform):
    raise ValueError(f'time shift of up to {max_shift_s:g} s ({max_shift} samples at {sampling_rate:g} Hz) '
                     f'does not fit a record of {len(waveform)} samples')
  shift = int(rng.integers(1, max_shift + 1))
  out = np.zeros_like(waveform)
  out[shift:] = waveform[:-shift]
  return out


def add_noise(waveform: np.ndarray, rng: np.random.Generator, *, snr_db: float = 20.0) -> np.ndarray:
  """Add white Gaussian noise at ``snr_db`` relative to each channel's RMS."""
  rms = np.sqrt(np.mean(np.square(waveform, dtype=np.float64), axis=0))
  noise = rng.standard_normal(waveform.shape) * rms / 10 ** (snr_db / 20)
  return (waveform + noise).astype(waveform.dtype)


def oversample_minority(records: RecordSet, transform: Transform, *, seed: int) -> RecordSet:
  """``records`` plus transformed copies of minority-class records until both classes are equal.

  Copies cycle through the minority records in a seeded random order, so each
  record is copied at most once more than any other.
  """
  labels = np.asarray(records.labels)
  classes, counts = np.unique(labels, return_counts=True)
  if len(classes) < 2 or counts.min() == counts.max():
    return records
  minority = classes[np.argmin(counts)]
  rng = np.random.default_rng(seed)
  sources = rng.permutation(np.flatnonzero(labels == minority))
  picks = np.resize(sources, counts.max() - counts.min())
  copies = np.stack([transform(np.asarray(records.waveforms[i]), rng) for i in picks])
  take = lambda column: np.concatenate([np.asarray(column), np.asarray(column)[picks]])
  copy_number = np.arange(len(picks)) // len(sources) + 1
  return RecordSet(
      waveforms=np.concatenate([np.asarray(records.waveforms), copies]),
      labels=take(records.labels), event_ids=take(records.event_ids),
      origin_times=take(records.origin_times), event_types=take(records.event_types),
      record_ids=np.concatenate([np.asarray(records.record_ids),
                                 [f'{records.record_ids[i]}#aug{k}' for i, k in zip(picks, copy_number)]]),
      extra={name: take(column) for name, column in records.extra.items()}, preprocessing=records.preprocessing)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Augmentation:
  """Random transforms applied to every training batch; the defaults change nothing.

  Attributes:
    max_shift_s: the P onset moves by up to this many seconds either way (the window
      start shifts around it); samples shifted in are zeros.
    scale_range: each record is multiplied by a factor drawn log-uniformly in this range.
    random_polarity: flip each record's sign with probability 1/2.
    snr_db_range: add white noise at an SNR drawn uniformly in this range (dB, relative
      to each channel's RMS); None adds none.
    channel_dropout: probability of zeroing each channel of a record (at least one
      live channel is always kept), as the zero-filled components of vertical-only data.
    response_probability: probability of filtering each record by a random smooth
      response (``response_gains``), the same on all its channels, each channel then
      rescaled to its former RMS.
    response_low_hz: range of the response's high-pass corner, Hz; None: no high-pass.
    response_high_hz: range of its low-pass corner, Hz; None: no low-pass.
    response_orders: (lowest, highest) Butterworth order of both corners, drawn uniformly.
    response_tilt_range: range of the tilt's exponent alpha (gain f^alpha); None: no tilt.
    sampling_rate: the records' rate, Hz (``RecordSet.sampling_rate``), to turn
      ``max_shift_s`` into samples and samples into frequencies.
  """
  sampling_rate: float
  max_shift_s: float = 0.0
  scale_range: tuple[float, float] = (1.0, 1.0)
  random_polarity: bool = False
  snr_db_range: tuple[float, float] | None = None
  channel_dropout: float = 0.0
  response_probability: float = 0.0
  response_low_hz: tuple[float, float] | None = (0.5, 3.0)
  response_high_hz: tuple[float, float] | None = (8.0, 25.0)
  response_orders: tuple[int, int] = (1, 4)
  response_tilt_range: tuple[float, float] | None = (-1.0, 1.0)

  def __post_init__(self):
    for name in ('sampling_rate', 'max_shift_s', 'scale_range', 'snr_db_range', 'channel_dropout'):
      value = getattr(self, name)
      values = np.atleast_1d(np.asarray(value if value is not None else (), dtype=object))
      if not all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) and np.isfinite(v) for v in values):
        raise ValueError(f'augmentation {name} must be finite numbers, got {value!r}')
    if len(self.scale_range) != 2 or (self.snr_db_range is not None and len(self.snr_db_range) != 2):
      raise ValueError(f'augmentation scale_range and snr_db_range must be (low, high) pairs, got '
                       f'{self.scale_range!r}, {self.snr_db_range!r}')
    if not self.sampling_rate > 0:
      raise ValueError(f'augmentation sampling_rate must be > 0 Hz, got {self.sampling_rate}')
    low, high = self.scale_range
    if not 0 < low <= high:
      raise ValueError(f'augmentation scale_range must be 0 < low <= high, got {self.scale_range}')
    if self.max_shift_s < 0:
      raise ValueError(f'augmentation max_shift_s must be >= 0, got {self.max_shift_s}')
    if not 0 <= self.channel_dropout < 1:
      raise ValueError(f'augmentation channel_dropout must be in [0, 1), got {self.channel_dropout}')
    if self.snr_db_range is not None and self.snr_db_range[0] > self.snr_db_range[1]:
      raise ValueError(f'augmentation snr_db_range must be (low, high), got {self.snr_db_range}')
    if not 0 <= self.response_probability <= 1:
      raise ValueError(f'augmentation response_probability must be in [0, 1], got {self.response_probability}')
    for name in ('response_low_hz', 'response_high_hz'):
      corners = getattr(self, name)
      if corners is not None and not (len(corners) == 2 and 0 < corners[0] <= corners[1]):
        raise ValueError(f'augmentation {name} must be (low, high) Hz with 0 < low <= high, got {corners}')
    if self.response_low_hz and self.response_high_hz and self.response_low_hz[1] >= self.response_high_hz[0]:
      raise ValueError(f'augmentation response_low_hz {self.response_low_hz} must lie below response_high_hz '
                       f'{self.response_high_hz}: the high-pass corner below the low-pass one')
    orders = self.response_orders
    if not (len(orders) == 2 and all(isinstance(o, (int, np.integer)) for o in orders) and 1 <= orders[0] <= orders[1]):
      raise ValueError(f'augmentation response_orders must be integers (lowest, highest) >= 1, got {orders}')
    tilts = self.response_tilt_range
    if tilts is not None and not (len(tilts) == 2 and tilts[0] <= tilts[1]):
      raise ValueError(f'augmentation response_tilt_range must be (low, high), got {tilts}')

  @property
  def active(self) -> bool:
    return (self.max_shift_s > 0 or self.scale_range != (1.0, 1.0) or self.random_polarity
            or self.snr_db_range is not None or self.channel_dropout > 0 or self.response_probability > 0)


def augmentation_of(fields: Mapping[str, Any], sampling_rate: float) -> Augmentation:
  """The ``Augmentation`` of a config's augmentation fields at ``sampling_rate`` Hz (shifts are in seconds).

  Args:
    fields: ``Augmentation`` fields as a config or JSON spells them: lists for
      tuples, an empty ``snr_db_range`` for no noise (and an empty response range
      for no such part of the response).
    sampling_rate: the windows' rate, Hz.

  Raises:
    TypeError: an unknown field.
    ValueError: a bad value, naming the field.
  """
  fields = as_tuples(fields)
  for name in ('snr_db_range', 'response_low_hz', 'response_high_hz', 'response_tilt_range'):
    if not fields.get(name, True):
      fields[name] = None
  return Augmentation(**fields, sampling_rate=sampling_rate)


def shift_records(waveforms: np.ndarray, shifts: np.ndarray) -> np.ndarray:
  """Each record of (batch, time, channels) moved by its shift in samples (> 0: later), zero-filled."""
  out = np.zeros_like(waveforms)
  length = waveforms.shape[1]
  for i, shift in enumerate(np.asarray(shifts, np.int64)):
    if shift >= 0:
      out[i, shift:] = waveforms[i, :length - shift]
    else:
      out[i, :shift] = waveforms[i, -shift:]
  return out


def response_gains(frequencies: np.ndarray, *, low_hz: np.ndarray, high_hz: np.ndarray, orders: np.ndarray,
                   tilts: np.ndarray) -> np.ndarray:
  """Amplitude gains of smooth instrument-like responses: a Butterworth band-pass times a tilt.

  gain(f) = [1 + (low / f)^(2 n)]^(-1/2) [1 + (f / high)^(2 n)]^(-1/2) max(f, ``TILT_FLOOR_HZ``)^alpha,
  zero-phase (real), so filtering by it changes a spectrum's shape, not its timing.

  Args:
    frequencies: (F,) frequencies, Hz (``np.fft.rfftfreq``).
    low_hz: (n,) high-pass corners, Hz (0: none).
    high_hz: (n,) low-pass corners, Hz (inf: none).
    orders: (n,) Butterworth orders n.
    tilts: (n,) tilt exponents alpha (0: none).

  Returns:
    (n, F) float64 gains; 0 at 0 Hz where there is a high-pass.
  """
  f = np.asarray(frequencies, np.float64)[None, :]
  low, high, order, tilt = (np.asarray(v, np.float64)[:, None] for v in (low_hz, high_hz, orders, tilts))
  with np.errstate(divide='ignore', invalid='ignore'):
    high_pass = np.where(low > 0, 1 / np.sqrt(1 + (low / f) ** (2 * order)), 1.0)
  low_pass = 1 / np.sqrt(1 + (f / high) ** (2 * order))
  return high_pass * low_pass * np.maximum(f, TILT_FLOOR_HZ) ** tilt


def filter_by_responses(waveforms: np.ndarray, gains: np.ndarray) -> np.ndarray:
  """Records of (batch, time, channels) filtered by their (batch, rfft bins) gains, each channel at its former RMS.

  The filter is applied in the frequency domain (circular: a smooth gain's short
  impulse response wraps only a few samples around the ends). Zero channels stay zero.
  """
  length = waveforms.shape[1]
  filtered = np.fft.irfft(np.fft.rfft(waveforms, axis=1) * gains[:, :, None], n=length, axis=1)
  rms = lambda x: np.sqrt(np.mean(np.square(x, dtype=np.float64), axis=1, keepdims=True))
  before, after = rms(waveforms), rms(filtered)
  scale = np.divide(before, after, out=np.zeros_like(before), where=after > 0)
  return (filtered * scale).astype(waveforms.dtype)


def _draw_responses(augmentation: Augmentation, rng: np.random.Generator, n: int):
  """(filtered rows, their high-pass corners, low-pass corners, orders, tilts): the responses of one batch."""
  applied = rng.random(n) < augmentation.response_probability
  low = rng.uniform(*augmentation.response_low_hz, n) if augmentation.response_low_hz else np.zeros(n)
  high = rng.uniform(*augmentation.response_high_hz, n) if augmentation.response_high_hz else np.full(n, np.inf)
  lowest, highest = augmentation.response_orders
  orders = rng.integers(lowest, highest + 1, n)
  tilts = rng.uniform(*augmentation.response_tilt_range, n) if augmentation.response_tilt_range else np.zeros(n)
  return applied, low[applied], high[applied], orders[applied], tilts[applied]


def augment_batch(waveforms: np.ndarray, augmentation: Augmentation, rng: np.random.Generator,
                  mask: np.ndarray | None = None) -> np.ndarray:
  """A randomly transformed copy of a batch of (batch, time, channels) float32 records.

  Padding rows (``mask`` 0) stay zero. Draws are made for every row whether or not
  a transform is on, so turning one transform on does not change the others' draws.
  """
  n, _, channels = waveforms.shape
  max_shift = int(round(augmentation.max_shift_s * augmentation.sampling_rate))
  shifts = rng.integers(-max_shift, max_shift + 1, n)
  log_low, log_high = np.log(augmentation.scale_range)
  gains = np.exp(rng.uniform(log_low, log_high, n))
  signs = np.where(rng.random(n) < 0.5, -1.0, 1.0) if augmentation.random_polarity else np.ones(n)
  snr_low, snr_high = augmentation.snr_db_range or (np.inf, np.inf)
  snr_db = rng.uniform(snr_low, snr_high, n) if augmentation.snr_db_range else np.full(n, np.inf)
  dropped = rng.random((n, channels)) < augmentation.channel_dropout
  noise = rng.standard_normal(waveforms.shape, dtype=np.float32)
  # drawn last, and only when on, so the other transforms draw as they did without it
  responses = _draw_responses(augmentation, rng, n) if augmentation.response_probability > 0 else None

  out = shift_records(waveforms, shifts) if max_shift else waveforms.copy()
  if responses is not None and responses[0].any():
    # the record as another instrument would have recorded it, before the noise a recorder adds
    applied, low, high, orders, tilts = responses
    frequencies = np.fft.rfftfreq(out.shape[1], 1 / augmentation.sampling_rate)
    responses_gains = response_gains(frequencies, low_hz=low, high_hz=high, orders=orders, tilts=tilts)
    out[applied] = filter_by_responses(out[applied], responses_gains)
  rms = np.sqrt(np.mean(np.square(out, dtype=np.float64), axis=1, keepdims=True))
  out = out + (noise * rms / 10 ** (snr_db[:, None, None] / 20)).astype(np.float32)
  live = np.any(out != 0, axis=1)
  dropped &= live
  # never drop every live channel of a record
  all_gone = dropped.sum(1) >= live.sum(1)
  dropped[all_gone] = False
  out[np.broadcast_to(dropped[:, None, :], out.shape)] = 0.0
  out *= (gains * signs)[:, None, None].astype(np.float32)
  if mask is not None:
    out[np.asarray(mask) == 0] = 0.0
  return out.astype(np.float32)


def augment_batches(stream: Iterable[Batch], augmentation: Augmentation, *, seed: int,
                    epoch: int, part: int = 0) -> Iterator[Batch]:
  """``stream``'s batches with ``augment_batch`` applied, batch ``k`` drawing from (seed, epoch, k).

  ``part``: the first row of the batches' rows when each process of a run augments its
  own rows of a batch (``sharding.process_rows``), so the processes draw apart; 0 otherwise.
  """
  for k, batch in enumerate(stream):
    rng = np.random.default_rng([seed, epoch, k, 2] + ([part] if part else []))
    yield batch._replace(waveforms=augment_batch(batch.waveforms, augmentation, rng, batch.mask))
