"""RecordArray: windows kept on disk, one or more memory-mapped parts read as one array.

A prepared set's windows (``waveforms.npy``, or one file per shard of a sharded set)
stay memory-mapped. ``RecordArray`` puts the parts end to end and answers what the
library asks of a windows array: ``len``, ``shape``, ``dtype``, and indexing by an
integer, a slice, integers or a boolean mask, which reads only the records asked for
and returns an ordinary ``np.ndarray``. ``take`` (what ``RecordSet.subset`` calls)
returns another ``RecordArray`` that reads through the first: a split of a large set
costs its indices, not a copy of its windows.

``np.asarray`` of a ``RecordArray`` reads every record it holds; the library reads
windows a batch or a bounded chunk at a time (``rows_in_chunks``) and never does so.
"""

from __future__ import annotations

import mmap
import numbers
from typing import Iterator, Sequence

import numpy as np

# What a scan over every record (checks, hashes, features) reads at once.
CHUNK_BYTES = 1 << 26


class RecordArray:
  """(records, samples, channels) windows, read from memory-mapped parts on indexing.

  Args:
    parts: arrays of one dtype and one shape past the first axis, their records
      concatenated in order (e.g. ``np.load(file, mmap_mode='r')`` of each shard).
    rows: the records of the concatenation this array holds, in order; None: all.

  Examples:
    >>> import numpy as np
    >>> array = RecordArray([np.zeros((2, 4, 3), np.float32), np.ones((3, 4, 3), np.float32)])
    >>> array.shape, array[[0, 4]][:, 0, 0].tolist()
    ((5, 4, 3), [0.0, 1.0])
    >>> view = array.take([4, 1])  # nothing read yet
    >>> view.shape, view[0][0, 0]
    ((2, 4, 3), np.float32(1.0))
  """

  def __init__(self, parts: Sequence[np.ndarray], rows: np.ndarray | None = None):
    parts = list(parts)
    if not parts:
      raise ValueError('a RecordArray needs at least one part')
    first = parts[0]
    for number, part in enumerate(parts):
      if part.dtype != first.dtype or part.shape[1:] != first.shape[1:]:
        raise ValueError(f'part {number} holds {part.dtype} records of shape {part.shape[1:]}; part 0 holds '
                         f'{first.dtype} records of shape {first.shape[1:]}')
    self._parts = parts
    self._starts = np.cumsum([0] + [len(part) for part in parts])
    self._rows = None if rows is None else np.asarray(rows, np.int64)

  @property
  def parts(self) -> list[np.ndarray]:
    """The on-disk arrays this array reads from."""
    return list(self._parts)

  @property
  def dtype(self) -> np.dtype:
    return self._parts[0].dtype

  @property
  def shape(self) -> tuple[int, ...]:
    return (len(self), *self._parts[0].shape[1:])

  @property
  def ndim(self) -> int:
    return self._parts[0].ndim

  @property
  def nbytes(self) -> int:
    return int(np.prod(self.shape)) * self.dtype.itemsize

  def __len__(self) -> int:
    return int(self._starts[-1]) if self._rows is None else len(self._rows)

  def __repr__(self) -> str:
    return f'RecordArray(shape={self.shape}, dtype={self.dtype}, parts={len(self._parts)})'

  def __getitem__(self, key) -> np.ndarray:
    rest = ()
    if isinstance(key, tuple):
      key, rest = (key[0], key[1:]) if key else (slice(None), ())
      if key is Ellipsis:
        key, rest = slice(None), (Ellipsis, *rest)
    if isinstance(key, numbers.Integral):
      position = int(key) + len(self) if key < 0 else int(key)
      if not 0 <= position < len(self):
        raise IndexError(f'record {int(key)} is out of range for {len(self)} records')
      records = self._read(np.array([position]))[0]
    else:
      records = self._read(self._positions(key))
      rest = (slice(None), *rest) if rest else ()
    return records[rest] if rest else records

  def __array__(self, dtype=None, copy=None) -> np.ndarray:
    whole = self._read(np.arange(len(self)))
    return whole if dtype is None else whole.astype(dtype, copy=False)

  def __iter__(self) -> Iterator[np.ndarray]:
    for position in range(len(self)):
      yield self[position]

  def take(self, indices: Sequence[int] | np.ndarray) -> 'RecordArray':
    """The records at ``indices`` (positions in this array), read only when indexed.

    Raises:
      IndexError: naming an index out of range.
    """
    return RecordArray(self._parts, self._global(self._positions(indices)))

  def __reduce__(self):
    # A memory map pickles as a copy of its data: a worker reopens the files instead.
    if all(isinstance(part, np.memmap) and isinstance(part.base, mmap.mmap) for part in self._parts):
      maps = [(part.filename, part.dtype.str, part.offset, part.shape) for part in self._parts]
      return _reopen, (maps, self._rows)
    return RecordArray, (self._parts, self._rows)

  def _positions(self, key) -> np.ndarray:
    if isinstance(key, slice):
      return np.arange(len(self))[key]
    positions = np.asarray(key)
    if positions.dtype == bool:
      if positions.shape != (len(self),):
        raise IndexError(f'a boolean index of shape {positions.shape} for {len(self)} records')
      return np.flatnonzero(positions)
    if positions.size == 0:
      return np.zeros(0, np.int64)
    if not np.issubdtype(positions.dtype, np.integer):
      raise IndexError(f'records are indexed by integers, slices or a boolean mask, not {positions.dtype}')
    positions = positions.astype(np.int64).reshape(-1)
    out_of_range = (positions < -len(self)) | (positions >= len(self))
    if out_of_range.any():
      raise IndexError(f'record {int(positions[out_of_range][0])} is out of range for {len(self)} records')
    return np.where(positions < 0, positions + len(self), positions)

  def _global(self, positions: np.ndarray) -> np.ndarray:
    return positions if self._rows is None else self._rows[positions]

  def _read(self, positions: np.ndarray) -> np.ndarray:
    rows = self._global(positions)
    out = np.empty((len(rows), *self._parts[0].shape[1:]), self.dtype)
    part_of = np.searchsorted(self._starts, rows, side='right') - 1
    for number in np.unique(part_of):
      chosen = np.flatnonzero(part_of == number)
      local = rows[chosen] - self._starts[number]
      order = np.argsort(local, kind='stable')  # sorted, a memory map is read front to back
      first, last = local[order[0]], local[order[-1]]
      if last - first + 1 == len(local) and np.all(np.diff(local[order]) == 1):
        out[chosen[order]] = self._parts[number][first:last + 1]
      else:
        out[chosen[order]] = self._parts[number][local[order]]
    return out


def _reopen(maps, rows: np.ndarray | None) -> RecordArray:
  parts = [np.memmap(file, np.dtype(dtype), 'r', offset=offset, shape=shape) for file, dtype, offset, shape in maps]
  return RecordArray(parts, rows)


def on_disk(array) -> bool:
  """Whether ``array`` reads its records from files (a ``RecordArray`` or a memory map)."""
  return isinstance(array, (RecordArray, np.memmap))


def take_rows(array, indices: np.ndarray):
  """``array``'s records at ``indices``: a lazy ``RecordArray`` for windows on disk, a copy for one in memory."""
  if isinstance(array, RecordArray):
    return array.take(indices)
  if isinstance(array, np.memmap):
    return RecordArray([array]).take(indices)
  return np.asarray(array)[indices]


def chunk_records(array, chunk_bytes: int | None = None) -> int:
  """How many of ``array``'s records make about ``chunk_bytes`` (``CHUNK_BYTES`` when None); at least one."""
  record_bytes = max(1, int(np.prod(array.shape[1:])) * np.dtype(array.dtype).itemsize)
  return max(1, (CHUNK_BYTES if chunk_bytes is None else chunk_bytes) // record_bytes)


def rows_in_chunks(array, chunk_bytes: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
  """(first record, records) of ``array`` in consecutive chunks of about ``chunk_bytes``: reads it in bounded memory."""
  step = chunk_records(array, chunk_bytes)
  for first in range(0, len(array), step):
    yield first, np.asarray(array[first:first + step])

