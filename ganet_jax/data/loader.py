"""Batches from a RecordSet: fixed-size, padded and masked, read in a background thread.

Every batch has exactly ``batch_size`` rows so a jitted step compiles once; the
rows past the data's end are zeros with ``mask`` 0. Evaluation drops the padded rows'
outputs by the mask; training takes full batches only (the run loop cuts each epoch to
whole batches), so no step ever sees padding.
Waveforms are gathered from the (memory-mapped) array only for the batch at
hand, and ``prefetch`` keeps the next few batches read while the device works,
so host memory stays a few batches whatever the data-set size.
"""

from __future__ import annotations

import queue
import threading
from typing import Iterable, Iterator, NamedTuple

import numpy as np

from ganet_jax.data.records import RecordSet


class Batch(NamedTuple):
  waveforms: np.ndarray  # (batch, time, channels) float32
  labels: np.ndarray     # (batch,) int32
  mask: np.ndarray       # (batch,) float32: 1 for real records, 0 for padding


def epoch_order(num_records: int, *, seed: int, epoch: int) -> np.ndarray:
  """Shuffled record order of one epoch, a pure function of (seed, epoch) so a resumed run replays it."""
  return np.random.default_rng([seed, epoch]).permutation(num_records)


def balanced_epoch_order(labels: np.ndarray, num_records: int, *, seed: int, epoch: int) -> np.ndarray:
  """``num_records`` indices drawn with replacement so each class is drawn equally often on average.

  Class-balanced sampling (the minority class is revisited, the majority subsampled);
  a pure function of (seed, epoch) like ``epoch_order``.
  """
  labels = np.asarray(labels)
  classes, counts = np.unique(labels, return_counts=True)
  weights = (1.0 / (len(classes) * counts))[np.searchsorted(classes, labels)]
  return np.random.default_rng([seed, epoch, 1]).choice(len(labels), num_records, p=weights / weights.sum())


def batches(records: RecordSet, indices: np.ndarray, batch_size: int) -> Iterator[Batch]:
  """Fixed-size batches of ``records`` at ``indices``, in that order, the last padded."""
  if batch_size < 1:
    raise ValueError(f'batch_size must be positive, got {batch_size}')
  indices = np.asarray(indices, dtype=np.int64)
  _, length, channels = records.waveforms.shape
  for start in range(0, len(indices), batch_size):
    chunk = indices[start:start + batch_size]
    waveforms = np.zeros((batch_size, length, channels), np.float32)
    # a sorted gather reads a memmap sequentially; then restore the requested order
    order = np.argsort(chunk, kind='stable')
    waveforms[order] = records.waveforms[chunk[order]]
    labels = np.zeros(batch_size, np.int32)
    labels[:len(chunk)] = records.labels[chunk]
    mask = np.zeros(batch_size, np.float32)
    mask[:len(chunk)] = 1.0
    yield Batch(waveforms, labels, mask)


def prefetch(iterable: Iterable, size: int = 2) -> Iterator:
  """Yield from ``iterable`` while a daemon thread reads up to ``size`` items ahead.

  An exception in the reader is re-raised in the consumer at the item where it occurred.
  """
  if size < 1:
    yield from iterable
    return
  items: queue.Queue = queue.Queue(maxsize=size)
  done = object()

  def read():
    try:
      for item in iterable:
        items.put(item)
    except BaseException as error:  # handed to the consumer, not lost in the thread
      items.put(error)
    items.put(done)

  threading.Thread(target=read, daemon=True).start()
  while (item := items.get()) is not done:
    if isinstance(item, BaseException):
      raise item
    yield item
