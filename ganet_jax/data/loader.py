"""Batches from a RecordSet: fixed-size, padded and masked, read in a background thread.

Every batch has exactly ``batch_size`` rows so a jitted step compiles once; the
rows past the data's end are zeros with ``mask`` 0. Evaluation drops the padded rows'
outputs by the mask; training takes full batches only (the run loop cuts each epoch to
whole batches), so no step ever sees padding.
Waveforms are gathered from the (memory-mapped) array only for the batch at
hand, and ``prefetch`` keeps the next few batches read while the device works,
so host memory stays a few batches whatever the data-set size. A process of a
multi-process run reads only its rows of each batch (``rows``).
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


def balanced_epoch_order(labels: np.ndarray, num_records: int, *, seed: int, epoch: int,
                         stations: np.ndarray | None = None, balance_classes: bool = True) -> np.ndarray:
  """``num_records`` indices drawn with replacement by ``sampling_weights``.

  Class-balanced sampling (the minority class is revisited, the majority subsampled),
  and with ``stations`` station-balanced within each class; a pure function of
  (seed, epoch) like ``epoch_order``, so a resumed run replays it.

  Args:
    labels: (n,) class of every record.
    num_records: how many indices to draw.
    seed, epoch: what the draw derives from.
    stations: (n,) station of every record (``records.station_keys``), or None.
    balance_classes: each class drawn equally often; False keeps the classes' shares.

  Returns:
    (num_records,) int indices into ``labels``.
  """
  weights = sampling_weights(labels, stations, balance_classes=balance_classes)
  return np.random.default_rng([seed, epoch, 1]).choice(len(labels), num_records, p=weights)


def sampling_weights(labels: np.ndarray, stations: np.ndarray | None = None, *,
                     balance_classes: bool = True) -> np.ndarray:
  """Each record's probability of being drawn, summing to 1.

  A class's share is 1 / classes (``balance_classes``) or its share of the records.
  With ``stations``, a class's share is split equally among its stations and a
  station's part equally among its records, so a few stations with many records
  do not dominate what the network sees of a class.

  Args:
    labels: (n,) class of every record.
    stations: (n,) station of every record, or None (a class's share split among its records).
    balance_classes: as in ``balanced_epoch_order``.

  Returns:
    (n,) float64 probabilities.
  """
  labels = np.asarray(labels)
  classes, class_index, counts = np.unique(labels, return_inverse=True, return_counts=True)
  if stations is None:
    # the class-balanced weights exactly as they always were, so a seed draws the same order
    weights = (1.0 / (len(classes) * counts))[class_index] if balance_classes else np.ones(len(labels))
    return weights / weights.sum()
  stations = np.asarray(stations)
  if stations.shape != labels.shape:
    raise ValueError(f'stations has shape {stations.shape}, labels {labels.shape}: one station per record')
  class_share = np.full(len(classes), 1.0 / len(classes)) if balance_classes else counts / counts.sum()
  _, group_index, group_counts = np.unique(np.stack([class_index.astype(str), stations.astype(str)]), axis=1,
                                           return_inverse=True, return_counts=True)
  group_index = group_index.reshape(-1)
  group_class = np.zeros(len(group_counts), np.int64)
  group_class[group_index] = class_index
  stations_per_class = np.bincount(group_class, minlength=len(classes))
  weights = class_share[class_index] / stations_per_class[class_index] / group_counts[group_index]
  return weights / weights.sum()


def batches(records: RecordSet, indices: np.ndarray, batch_size: int, *,
            rows: slice | None = None) -> Iterator[Batch]:
  """Fixed-size batches of ``records`` at ``indices``, in that order, the last padded.

  Args:
    records: the records; only the windows of each batch are read.
    indices: the records' order.
    batch_size: records per (global) batch.
    rows: the rows of every batch to read and yield, e.g. one process's share of a
      batch that several processes feed (``sharding.process_rows``); None: all.

  Yields:
    ``Batch``es of ``rows``' length (``batch_size`` without ``rows``).
  """
  if batch_size < 1:
    raise ValueError(f'batch_size must be positive, got {batch_size}')
  rows = slice(0, batch_size) if rows is None else rows
  start_row, stop_row, step = rows.indices(batch_size)
  if step != 1 or stop_row <= start_row:
    raise ValueError(f'rows {rows} are not a run of rows of a batch of {batch_size}')
  size = stop_row - start_row
  indices = np.asarray(indices, dtype=np.int64)
  _, length, channels = records.waveforms.shape
  for start in range(0, len(indices), batch_size):
    chunk = indices[start:start + batch_size][start_row:stop_row]
    waveforms = np.zeros((size, length, channels), np.float32)
    # a sorted gather reads a memmap sequentially; then restore the requested order
    order = np.argsort(chunk, kind='stable')
    waveforms[order] = records.waveforms[chunk[order]]
    labels = np.zeros(size, np.int32)
    labels[:len(chunk)] = records.labels[chunk]
    mask = np.zeros(size, np.float32)
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
