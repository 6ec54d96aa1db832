"""Data-level imbalance handling of Table 4: minority records copied with a time shift or added noise.

Copies keep their source's event id, so an event never straddles splits through
its augmented copies; record ids get a ``#aug<k>`` suffix.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ganet_jax.data.records import RecordSet

Transform = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def time_shift(waveform: np.ndarray, rng: np.random.Generator, *, max_shift: int = 500) -> np.ndarray:
  """Delay the record by 1..max_shift samples (5 s at 100 Hz), zero-filling the start.

  Shifting later, not earlier, keeps the P onset inside the window; zeros rather
  than a circular roll, so the coda does not wrap around to precede the P wave.
  """
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
