"""RecordSet: windows plus the per-record metadata training and evaluation need.

On disk a prepared data set is a folder:

  waveforms.npy   float32 (n_records, time, channels), read memory-mapped
  manifest.csv    one row per record, in the order of waveforms.npy; the columns of
                  ``RecordSet`` (record_id, event_id, event_type, label, origin_time)
                  and any others the producer adds (file, station, p_onset, p_method,
                  distance_km, channels_present, ...)
  rejected.csv    optional: one row per input record that was not accepted, with its reason
  preprocess.json optional: the preprocessing settings that made the windows
                  (``RecordSet.preprocessing``), so a classifier can repeat them
  noise.npy       optional: float32 (n_records, noise samples, channels) pre-event noise,
                  scaled as its window (``RecordSet.noise``, ``ganet_jax.data.noise``)

A sharded set (``ganet_jax.data.shards`` writes one, a part at a time) holds the
same files in one folder per shard, ``shard-00000/``, ``shard-00001/``, ..., and at
its top ``shards.json`` (the shards in order with their record counts), the
manifest and rejections of all shards in order, and preprocess.json.
``load_prepared`` opens either layout as one ``RecordSet``.

The waveforms stay on disk and are read page by page (``record_array.RecordArray``),
so a data set larger than memory trains with memory bounded by the batches in flight.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import pathlib
from typing import Iterable, Mapping, Sequence

import numpy as np

from ganet_jax import conventions
from ganet_jax.data.record_array import RecordArray, rows_in_chunks, take_rows

WAVEFORMS_FILE = 'waveforms.npy'
NOISE_FILE = 'noise.npy'
MANIFEST_FILE = 'manifest.csv'
REJECTED_FILE = 'rejected.csv'
PREPROCESS_FILE = 'preprocess.json'
INDEX_FILE = 'shards.json'
CORE_COLUMNS = ('record_id', 'event_id', 'event_type', 'label', 'origin_time')


@dataclasses.dataclass(frozen=True)
class RecordSet:
  """Records and their metadata, aligned on the first axis.

  Attributes:
    waveforms: (n, time, channels) float32 windows: an array, a read-only memmap, or
      a ``RecordArray`` of windows on disk (read only where indexed).
    labels: (n,) int, 0 tectonic, 1 non-tectonic, ``UNLABELED`` unknown (``ganet_jax.conventions``).
    event_ids: (n,) str; records of one event share it.
    origin_times: (n,) datetime64[ms] origin time of the record's event.
    event_types: (n,) str, e.g. 'earthquake', 'quarry blast', 'collapse'.
    record_ids: (n,) str, unique per record (e.g. file or NET.STA.event).
    extra: further per-record columns (str arrays), kept through subsetting.
    preprocessing: the settings that made the windows (JSON-ready, as
      ``prepare_settings.settings`` writes them), None when unknown (e.g. synthetic records).
    noise: (n, noise samples, channels) float32 pre-event noise of each record, scaled
      by its window's factor (``ganet_jax.data.noise``), or None when not kept.
  """
  waveforms: np.ndarray
  labels: np.ndarray
  event_ids: np.ndarray
  origin_times: np.ndarray
  event_types: np.ndarray
  record_ids: np.ndarray
  extra: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)
  preprocessing: Mapping[str, object] | None = None
  noise: np.ndarray | None = None

  def __post_init__(self):
    n = len(self.waveforms)
    columns = {'labels': self.labels, 'event_ids': self.event_ids, 'origin_times': self.origin_times,
               'event_types': self.event_types, 'record_ids': self.record_ids, **self.extra}
    if self.noise is not None:
      columns['noise'] = self.noise
    for name, column in columns.items():
      if len(column) != n:
        raise ValueError(f'RecordSet column {name!r} has {len(column)} rows, waveforms have {n}')

  def __len__(self) -> int:
    return len(self.waveforms)

  @classmethod
  def unlabeled(cls, waveforms: np.ndarray) -> 'RecordSet':
    """Windows with no metadata, e.g. to predict on a bare array.

    Args:
      waveforms: (n, time, channels) windows.

    Returns:
      The records with label ``conventions.UNLABELED`` and event type
      ``conventions.UNLABELED_TYPE`` (supervised training and metrics refuse them),
      empty ids and origin times at the epoch.

    Examples:
      >>> import numpy as np
      >>> records = RecordSet.unlabeled(np.zeros((3, 100, 3), np.float32))
      >>> len(records), records.labels.tolist(), records.class_counts()
      (3, [-1, -1, -1], (0, 0))
    """
    n = len(waveforms)
    blank = np.array([''] * n)
    return cls(waveforms=waveforms, labels=np.full(n, conventions.UNLABELED, np.int32), event_ids=blank,
               origin_times=np.zeros(n, 'datetime64[ms]'), event_types=np.full(n, conventions.UNLABELED_TYPE),
               record_ids=blank)

  def subset(self, indices: Sequence[int] | np.ndarray) -> 'RecordSet':
    """The records at ``indices``; windows on disk stay there (a ``RecordArray`` reading through these).

    Examples:
      >>> import numpy as np
      >>> waveforms = np.stack([np.full((4, 3), i, np.float32) for i in range(3)])
      >>> RecordSet.unlabeled(waveforms).subset([2, 0]).waveforms[:, 0, 0].tolist()
      [2.0, 0.0]
    """
    indices = np.asarray(indices, dtype=np.int64)
    take = lambda a: np.asarray(a)[indices]
    return RecordSet(waveforms=take_rows(self.waveforms, indices),
                     labels=take(self.labels), event_ids=take(self.event_ids),
                     origin_times=take(self.origin_times), event_types=take(self.event_types),
                     record_ids=take(self.record_ids), extra={k: take(v) for k, v in self.extra.items()},
                     preprocessing=self.preprocessing,
                     noise=None if self.noise is None else take_rows(self.noise, indices))

  @property
  def sampling_rate(self) -> float:
    """The windows' rate in Hz: the prepared set's (``preprocessing``), else the paper's 100 Hz."""
    settings = (self.preprocessing or {}).get('preprocess', {})
    return float(settings.get('sampling_rate', conventions.SAMPLING_RATE))

  @property
  def sources(self) -> np.ndarray:
    """(n,) str: the input each record was prepared from (the ``source`` column); '' for all without one.

    ``experiments.prepare`` writes the column when it prepares several inputs into one set.
    """
    return np.asarray(self.extra.get('source', np.full(len(self), '')), dtype=str)

  def class_counts(self) -> tuple[int, int]:
    """(tectonic, non-tectonic) record counts."""
    return int(np.sum(self.labels == 0)), int(np.sum(self.labels == 1))


def station_keys(records: RecordSet) -> np.ndarray:
  """(n,) str: each record's ``network.station``, from the manifest's network and station columns.

  Raises:
    KeyError: naming the missing column and the columns the records have.
  """
  for name in ('network', 'station'):
    if name not in records.extra:
      raise KeyError(f'the records have no {name!r} column (manifest columns: {", ".join(records.extra) or "none"})')
  column = lambda name: np.asarray(records.extra[name], dtype=str)
  return np.char.add(np.char.add(column('network'), '.'), column('station'))


def save_prepared(path: str | pathlib.Path, records: RecordSet,
                  rejected: Iterable[Mapping[str, str]] = (), *, present: Sequence[str] = ()) -> pathlib.Path:
  """Write ``records`` (and the rejection report) as a prepared data-set folder.

  ``present`` names array files (``WAVEFORMS_FILE``, ``NOISE_FILE``) already in the
  folder holding exactly the records' arrays (written by the process that prepared
  them), which are not written again.
  """
  path = pathlib.Path(path)
  path.mkdir(parents=True, exist_ok=True)
  if WAVEFORMS_FILE not in present:
    save_array(path / WAVEFORMS_FILE, records.waveforms)
  if records.noise is not None and NOISE_FILE not in present:
    save_array(path / NOISE_FILE, records.noise)
  write_manifest(path / MANIFEST_FILE, records)
  if records.preprocessing is not None:
    (path / PREPROCESS_FILE).write_text(json.dumps(records.preprocessing, indent=2) + '\n')
  rejected = list(rejected)
  if rejected:
    with open(path / REJECTED_FILE, 'w', newline='') as f:
      writer = csv.DictWriter(f, fieldnames=list(rejected[0]))
      writer.writeheader()
      writer.writerows(rejected)
  return path


def save_array(file: str | os.PathLike, array) -> None:
  """``array`` as a float32 .npy file, on disk when this returns and out of the page cache.

  Written from memory at once, or a bounded chunk at a time when it is not in memory
  (a memory map, a sharded set's rows). Then the file's data is flushed to disk
  (``fdatasync``) and its pages handed back (``POSIX_FADV_DONTNEED``), for two reasons:
  a shard moved into a set after this holds its data even if the machine then fails,
  and a preparation that writes gigabytes reuses the pages it handed back for its next
  files instead of the kernel taking new ones. On a 2-core virtual machine (load average
  0.5-0.7), writing into newly taken page-cache pages ran at 0.37 GB/s and into reused
  ones at 3.7 GB/s, and two workers preparing at once each slowed the other by taking
  new pages (docs/performance.md).
  A prepared set is read later, by training, from the disk.
  """
  if isinstance(array, np.ndarray) and not isinstance(array, np.memmap):
    np.save(file, np.asarray(array, dtype=np.float32))
  else:
    out = np.lib.format.open_memmap(file, mode='w+', dtype=np.float32, shape=tuple(array.shape))
    for first, rows in rows_in_chunks(array):
      out[first:first + len(rows)] = rows
    out.flush()
    del out
  _flush_and_release(file)


def _flush_and_release(file: str | os.PathLike) -> None:
  """``file``'s data written to disk and its pages dropped from the page cache (where the platform can)."""
  fd = os.open(file, os.O_RDONLY)
  try:
    getattr(os, 'fdatasync', os.fsync)(fd)
    if hasattr(os, 'posix_fadvise'):
      os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
  finally:
    os.close(fd)


def write_manifest(file: pathlib.Path, records: RecordSet) -> None:
  """The manifest of ``records``: a header of the core and extra columns, one row per record."""
  columns = {'record_id': records.record_ids, 'event_id': records.event_ids,
             'event_type': records.event_types, 'label': records.labels,
             'origin_time': np.datetime_as_string(np.asarray(records.origin_times, 'datetime64[ms]'), unit='ms'),
             **records.extra}
  with open(file, 'w', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(columns)
    writer.writerows(zip(*map(_as_text, columns.values())))


def _as_text(column) -> list:
  """A column as the text ``csv`` writes for it, converted at once rather than a NumPy scalar at a time.

  NumPy's text of a bool, number or string is ``str`` of its scalar; other columns
  (objects, which may hold None) are left to ``csv``.
  """
  column = np.asarray(column)
  return column.astype(str).tolist() if column.dtype.kind in 'biufU' else list(column)


def load_prepared(path: str | pathlib.Path) -> RecordSet:
  """Open a prepared data-set folder, checked against its manifest; the waveforms are memory-mapped.

  A sharded folder (``shards.json``) opens as one set whose waveforms (and noise) are
  a ``RecordArray`` over the shards' files, in the index's order.

  Checks: waveforms.npy (of each shard) is a float32 (records, samples, 3) array with
  one record per manifest row (and the window length of preprocess.json), every
  sample finite; the manifest has its core columns, 0/1 labels, parseable origin
  times and unique record ids; noise.npy, when there, likewise (with the noise
  length of preprocess.json); a shard holds the records the index gives it. The
  arrays are scanned in bounded chunks, so memory stays bounded.

  Raises:
    FileNotFoundError: naming the missing file.
    ValueError: naming the file, and the record where one is at fault, and what is wrong.
  """
  path = pathlib.Path(path)
  sharded = (path / INDEX_FILE).is_file()
  if not sharded and not (path / WAVEFORMS_FILE).exists() and any(path.glob('shard-*')):
    raise FileNotFoundError(f'{path / INDEX_FILE}: missing; {path} holds shards of an unfinished preparation '
                            f'(run it again to finish it)')
  needed = (INDEX_FILE, MANIFEST_FILE) if sharded else (WAVEFORMS_FILE, MANIFEST_FILE)
  for name in needed:
    if not (path / name).is_file():
      raise FileNotFoundError(f'{path / name}: missing; {path} is not a prepared data set '
                              f'(make one with python -m experiments.prepare)')
  rows = _read_manifest(path / MANIFEST_FILE)
  preprocessing = load_preprocessing(path)
  if sharded:
    waveforms, noise = _open_shards(path, rows, preprocessing)
  else:
    waveforms = _open_array(path / WAVEFORMS_FILE)
    _check_waveforms(waveforms, path / WAVEFORMS_FILE, rows, preprocessing)
    noise = _load_noise(path / NOISE_FILE, rows, preprocessing)
  _check_manifest(rows, path / MANIFEST_FILE)
  columns = {name: np.array([row[name] for row in rows]) for name in rows[0]}
  return from_manifest_columns(columns, waveforms, preprocessing=preprocessing, noise=noise)


def from_manifest_columns(columns: Mapping[str, np.ndarray], waveforms, **fields) -> RecordSet:
  """A RecordSet of a manifest's columns as read (strings): the core columns typed, the others its extra.

  ``fields`` are the RecordSet's other fields (preprocessing, noise).
  """
  return RecordSet(
      waveforms=waveforms,
      labels=columns['label'].astype(np.int32),
      event_ids=columns['event_id'],
      origin_times=columns['origin_time'].astype('datetime64[ms]'),
      event_types=columns['event_type'],
      record_ids=columns['record_id'],
      extra={name: column for name, column in columns.items() if name not in CORE_COLUMNS},
      **fields)


def _open_array(file: pathlib.Path) -> np.ndarray:
  try:
    return np.load(file, mmap_mode='r')
  except Exception as error:  # numpy raises EOFError, ValueError, OSError... for a damaged file
    raise ValueError(f'{file}: not a readable .npy array ({type(error).__name__}: {error})') from None


def _read_manifest(file: pathlib.Path) -> list[dict[str, str]]:
  """The manifest's rows, checked to be a table with the core columns and at least one row."""
  try:
    with open(file, newline='', encoding='utf-8-sig') as f:
      rows = list(csv.DictReader(f))
  except (ValueError, csv.Error) as error:
    raise ValueError(f'{file}: not a readable CSV table ({error})') from None
  if not rows:
    raise ValueError(f'{file}: no records')
  missing = [c for c in CORE_COLUMNS if c not in rows[0]]
  if missing:
    raise ValueError(f'{file}: missing columns {missing}')
  return rows


def read_index(path: str | pathlib.Path) -> dict:
  """The index (``shards.json``) of a sharded folder: ``shards``, a list of {name, records, rejected} in order.

  Raises:
    ValueError: naming the file when it is not such an index.
  """
  file = pathlib.Path(path) / INDEX_FILE
  try:
    index = json.loads(file.read_text())
    shards = index['shards']
    for shard in shards:
      if not (isinstance(shard['name'], str) and int(shard['records']) >= 0):
        raise ValueError(shard)
  except (ValueError, KeyError, TypeError) as error:
    raise ValueError(f'{file}: not an index of shards, a JSON object whose "shards" lists '
                     f'{{"name", "records"}} ({type(error).__name__}: {error})') from None
  return index


def _open_shards(path: pathlib.Path, rows: Sequence[Mapping[str, str]], preprocessing: Mapping | None
                 ) -> tuple[RecordArray, RecordArray | None]:
  """The windows (and noise) of the index's shards, each memory-mapped, checked and put end to end."""
  shards = [shard for shard in read_index(path)['shards'] if int(shard['records'])]
  total = sum(int(shard['records']) for shard in shards)
  if total != len(rows):
    raise ValueError(f'{path / MANIFEST_FILE} has {len(rows)} rows but {path / INDEX_FILE} lists {total} records')
  windows, noises, first = [], [], 0
  for shard in shards:
    folder, count = path / shard['name'], int(shard['records'])
    for name in (WAVEFORMS_FILE, MANIFEST_FILE):
      if not (folder / name).is_file():
        raise FileNotFoundError(f'{folder / name}: missing; {path / INDEX_FILE} lists shard {shard["name"]} '
                                f'with {count} records')
    part_rows = rows[first:first + count]
    windows.append(_open_array(folder / WAVEFORMS_FILE))
    _check_waveforms(windows[-1], folder / WAVEFORMS_FILE, part_rows, preprocessing)
    noises.append(_load_noise(folder / NOISE_FILE, part_rows, preprocessing))
    first += count
  kept = [noise is not None for noise in noises]
  if any(kept) and not all(kept):
    raise ValueError(f'{path}: shard {shards[kept.index(False)]["name"]} has no {NOISE_FILE}, shard '
                     f'{shards[kept.index(True)]["name"]} has one; every shard keeps its noise or none does')
  try:
    return RecordArray(windows), RecordArray(noises) if all(kept) else None
  except ValueError as error:
    raise ValueError(f'{path}: the shards differ ({error})') from None


def _check_waveforms(waveforms: np.ndarray, file: pathlib.Path, rows: Sequence[Mapping[str, str]],
                     preprocessing: Mapping | None) -> None:
  expected = None
  if preprocessing:
    try:
      settings = preprocessing['preprocess']
      expected = int(round(float(settings['window_s']) * float(settings['sampling_rate'])))
    except (KeyError, TypeError, ValueError):
      raise ValueError(f'{file.parent / PREPROCESS_FILE}: no window_s and sampling_rate') from None
  _check_samples(waveforms, file, rows, expected, 'windows')


def _check_samples(array: np.ndarray, file: pathlib.Path, rows: Sequence[Mapping[str, str]],
                   expected_samples: int | None, what: str) -> None:
  """Shape (one record per manifest row, ``expected_samples`` long, 3 channels), dtype and finiteness.

  The array is scanned in bounded chunks, so memory stays bounded.
  """
  channels = len(conventions.COMPONENT_ORDER)
  if array.dtype != np.float32 or array.ndim != 3 or array.shape[2] != channels:
    raise ValueError(f'{file}: {array.dtype} array of shape {array.shape}; a prepared set holds float32 '
                     f'(records, samples, {channels}) {what} in {conventions.COMPONENT_ORDER} order')
  if len(rows) != len(array):
    raise ValueError(f'{file.parent / MANIFEST_FILE} has {len(rows)} rows but {file} has {len(array)} records')
  if expected_samples is not None and array.shape[1] != expected_samples:
    raise ValueError(f'{file}: {what} of {array.shape[1]} samples; {PREPROCESS_FILE} says {expected_samples}')
  for first, chunk in rows_in_chunks(array):
    finite = np.isfinite(chunk).all(axis=(1, 2))
    if not finite.all():
      bad = first + int(np.argmin(finite))
      raise ValueError(f'{file}: record {bad} ({rows[bad].get("record_id", "")}) has NaN or inf samples')


def _load_noise(file: pathlib.Path, rows: Sequence[Mapping[str, str]], preprocessing: Mapping | None
                ) -> np.ndarray | None:
  """noise.npy memory-mapped and checked like the windows (None without the file)."""
  if not file.is_file():
    return None
  noise = _open_array(file)
  settings = (preprocessing or {}).get('preprocess', {})
  expected = None
  if settings.get('noise_s') and settings.get('sampling_rate'):
    expected = int(round(float(settings['noise_s']) * float(settings['sampling_rate'])))
  _check_samples(noise, file, rows, expected, 'noise segments')
  return noise


def _check_manifest(rows: Sequence[Mapping[str, str]], file: pathlib.Path) -> None:
  seen = {}
  for number, row in enumerate(rows):
    name = f'{file}: record {number} ({row["record_id"]})'
    if row['label'] not in ('0', '1', str(conventions.UNLABELED)):
      raise ValueError(f'{name}: label {row["label"]!r} is not 0 or 1 (or {conventions.UNLABELED}, unknown)')
    try:
      np.datetime64(row['origin_time'], 'ms')
    except ValueError:
      raise ValueError(f'{name}: origin_time {row["origin_time"]!r} is not a time') from None
    if row['record_id'] in seen:
      raise ValueError(f'{name}: record_id also at record {seen[row["record_id"]]}; record ids must be unique')
    seen[row['record_id']] = number


def load_preprocessing(path: str | pathlib.Path) -> dict | None:
  """The preprocessing settings of a prepared folder (its preprocess.json), None without one.

  Raises:
    ValueError: naming the file when it is not a JSON object.
  """
  file = pathlib.Path(path) / PREPROCESS_FILE
  if not file.is_file():
    return None
  try:
    settings = json.loads(file.read_text())
  except ValueError as error:
    raise ValueError(f'{file}: not JSON ({error})') from None
  if not isinstance(settings, dict):
    raise ValueError(f'{file}: not a JSON object')
  return settings
