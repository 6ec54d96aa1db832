"""Augmentation: Table 4's minority copies on disk, and the small-data recipe's on-the-fly batch transforms.

``oversample_minority`` copies minority records with a time shift or added noise
(copies keep their source's event id, so an event never straddles splits through
its augmented copies; record ids get a ``#aug<k>`` suffix). ``augment_batch``
transforms every training batch anew instead, in the input path: nothing is
copied, and each batch's draws come from a generator seeded by (seed, epoch,
step), so a fixed seed gives the same augmented stream and a resumed run replays it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterable, Iterator, Mapping

import numpy as np

from ganet_jax.conventions import as_tuples
from ganet_jax.data.loader import Batch
from ganet_jax.data.records import RecordSet

Transform = Callable[[np.ndarray, np.random.Generator], np.ndarray]


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
    sampling_rate: the records' rate, Hz (``RecordSet.sampling_rate``), to turn
      ``max_shift_s`` into samples.
  """
  sampling_rate: float
  max_shift_s: float = 0.0
  scale_range: tuple[float, float] = (1.0, 1.0)
  random_polarity: bool = False
  snr_db_range: tuple[float, float] | None = None
  channel_dropout: float = 0.0

  def __post_init__(self):
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

  @property
  def active(self) -> bool:
    return (self.max_shift_s > 0 or self.scale_range != (1.0, 1.0) or self.random_polarity
            or self.snr_db_range is not None or self.channel_dropout > 0)


def augmentation_of(fields: Mapping[str, Any], sampling_rate: float) -> Augmentation:
  """The ``Augmentation`` of a config's augmentation fields at ``sampling_rate`` Hz (shifts are in seconds).

  Args:
    fields: ``Augmentation`` fields as a config or JSON spells them: lists for
      tuples, an empty ``snr_db_range`` for no noise.
    sampling_rate: the windows' rate, Hz.

  Raises:
    TypeError: an unknown field.
    ValueError: a bad value, naming the field.
  """
  fields = as_tuples(fields)
  if not fields.get('snr_db_range', True):
    fields['snr_db_range'] = None
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

  out = shift_records(waveforms, shifts) if max_shift else waveforms.copy()
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
                    epoch: int) -> Iterator[Batch]:
  """``stream``'s batches with ``augment_batch`` applied, batch ``k`` drawing from (seed, epoch, k)."""
  for k, batch in enumerate(stream):
    rng = np.random.default_rng([seed, epoch, k, 2])
    yield batch._replace(waveforms=augment_batch(batch.waveforms, augmentation, rng, batch.mask))
