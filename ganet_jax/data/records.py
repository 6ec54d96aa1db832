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

The waveforms stay on disk and are read page by page, so a data set larger than
memory trains with memory bounded by the batches in flight.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import pathlib
from typing import Iterable, Mapping, Sequence

import numpy as np

WAVEFORMS_FILE = 'waveforms.npy'
MANIFEST_FILE = 'manifest.csv'
REJECTED_FILE = 'rejected.csv'
PREPROCESS_FILE = 'preprocess.json'
CORE_COLUMNS = ('record_id', 'event_id', 'event_type', 'label', 'origin_time')


@dataclasses.dataclass(frozen=True)
class RecordSet:
  """Records and their metadata, aligned on the first axis.

  Attributes:
    waveforms: (n, time, channels) float32 windows (may be a read-only memmap).
    labels: (n,) int, 0 tectonic, 1 non-tectonic (``ganet_jax.conventions``).
    event_ids: (n,) str; records of one event share it.
    origin_times: (n,) datetime64[ms] origin time of the record's event.
    event_types: (n,) str, e.g. 'earthquake', 'quarry blast', 'collapse'.
    record_ids: (n,) str, unique per record (e.g. file or NET.STA.event).
    extra: further per-record columns (str arrays), kept through subsetting.
    preprocessing: the settings that made the windows (JSON-ready, as
      ``ingest.settings`` writes them), None when unknown (e.g. synthetic records).
  """
  waveforms: np.ndarray
  labels: np.ndarray
  event_ids: np.ndarray
  origin_times: np.ndarray
  event_types: np.ndarray
  record_ids: np.ndarray
  extra: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)
  preprocessing: Mapping[str, object] | None = None

  def __post_init__(self):
    n = len(self.waveforms)
    columns = {'labels': self.labels, 'event_ids': self.event_ids, 'origin_times': self.origin_times,
               'event_types': self.event_types, 'record_ids': self.record_ids, **self.extra}
    for name, column in columns.items():
      if len(column) != n:
        raise ValueError(f'RecordSet column {name!r} has {len(column)} rows, waveforms have {n}')

  def __len__(self) -> int:
    return len(self.waveforms)

  def subset(self, indices: Sequence[int] | np.ndarray) -> 'RecordSet':
    """The records at ``indices`` (waveforms of a memmap are read only for these)."""
    indices = np.asarray(indices, dtype=np.int64)
    take = lambda a: np.asarray(a)[indices]
    return RecordSet(waveforms=self.waveforms[indices],
                     labels=take(self.labels), event_ids=take(self.event_ids),
                     origin_times=take(self.origin_times), event_types=take(self.event_types),
                     record_ids=take(self.record_ids), extra={k: take(v) for k, v in self.extra.items()},
                     preprocessing=self.preprocessing)

  def class_counts(self) -> tuple[int, int]:
    """(tectonic, non-tectonic) record counts."""
    return int(np.sum(self.labels == 0)), int(np.sum(self.labels == 1))


def save_prepared(path: str | pathlib.Path, records: RecordSet,
                  rejected: Iterable[Mapping[str, str]] = ()) -> pathlib.Path:
  """Write ``records`` (and the rejection report) as a prepared data-set folder."""
  path = pathlib.Path(path)
  path.mkdir(parents=True, exist_ok=True)
  np.save(path / WAVEFORMS_FILE, np.asarray(records.waveforms, dtype=np.float32))
  columns = {'record_id': records.record_ids, 'event_id': records.event_ids,
             'event_type': records.event_types, 'label': records.labels,
             'origin_time': np.datetime_as_string(np.asarray(records.origin_times, 'datetime64[ms]'), unit='ms'),
             **records.extra}
  with open(path / MANIFEST_FILE, 'w', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(columns)
    writer.writerows(zip(*columns.values()))
  if records.preprocessing is not None:
    (path / PREPROCESS_FILE).write_text(json.dumps(records.preprocessing, indent=2) + '\n')
  rejected = list(rejected)
  if rejected:
    with open(path / REJECTED_FILE, 'w', newline='') as f:
      writer = csv.DictWriter(f, fieldnames=list(rejected[0]))
      writer.writeheader()
      writer.writerows(rejected)
  return path


def load_prepared(path: str | pathlib.Path) -> RecordSet:
  """Open a prepared data-set folder; the waveforms are memory-mapped, not read.

  Raises:
    FileNotFoundError: naming the missing file.
    ValueError: naming the file and what is inconsistent.
  """
  path = pathlib.Path(path)
  for name in (WAVEFORMS_FILE, MANIFEST_FILE):
    if not (path / name).is_file():
      raise FileNotFoundError(f'{path / name}: missing; {path} is not a prepared data set '
                              f'(make one with python -m experiments.prepare)')
  waveforms = np.load(path / WAVEFORMS_FILE, mmap_mode='r')
  with open(path / MANIFEST_FILE, newline='') as f:
    rows = list(csv.DictReader(f))
  if not rows:
    raise ValueError(f'{path / MANIFEST_FILE}: no records')
  missing = [c for c in CORE_COLUMNS if c not in rows[0]]
  if missing:
    raise ValueError(f'{path / MANIFEST_FILE}: missing columns {missing}')
  if len(rows) != len(waveforms):
    raise ValueError(f'{path / MANIFEST_FILE} has {len(rows)} rows but {path / WAVEFORMS_FILE} '
                     f'has {len(waveforms)} records')
  column = lambda name: np.array([row[name] for row in rows])
  return RecordSet(
      waveforms=waveforms,
      labels=column('label').astype(np.int32),
      event_ids=column('event_id'),
      origin_times=column('origin_time').astype('datetime64[ms]'),
      event_types=column('event_type'),
      record_ids=column('record_id'),
      extra={name: column(name) for name in rows[0] if name not in CORE_COLUMNS},
      preprocessing=load_preprocessing(path))


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
