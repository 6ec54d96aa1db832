"""Sharded prepared sets: written a part at a time, by any number of processes, resumable.

A preparation split into partitions writes each one as a shard (``write_shard``):
a folder ``shard-00007/`` holding the part's windows, manifest, rejections and noise
as a prepared folder holds them (``records.save_prepared``), and ``shard.json``
with its record counts and the fingerprint of the settings that made it. A shard
is written under a temporary name and renamed into place complete, so a process
killed while writing leaves no shard, only a temporary folder that is never taken
for one. ``write_index`` ends the preparation: it writes ``shards.json`` (the shards
in order with their record counts), the manifest and rejections of all shards in
that order, and ``preprocess.json``. ``records.load_prepared`` opens the folder as
one set.

A killed preparation resumes by asking ``finished_shards`` which partitions are
done with the same settings and writing only the others::

  done = shards.finished_shards(folder, settings)
  for number, partition in enumerate(partitions):
    if number not in done:
      shards.write_shard(folder, number, *prepare(partition), settings=settings)
  shards.write_index(folder, range(len(partitions)), settings)

Shards are independent files, so the partitions may be written by several
processes or machines sharing the folder. Two writers of one shard (a task
rerun while its first worker still runs) are harmless: the shard that lands
first is kept.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import pathlib
import re
import shutil
import socket
import uuid
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from ganet_jax.data.record_array import rows_in_chunks
from ganet_jax.data.records import (INDEX_FILE, MANIFEST_FILE, NOISE_FILE, PREPROCESS_FILE, REJECTED_FILE,
                                    WAVEFORMS_FILE, RecordSet, save_array, save_prepared)

SHARD_FILE = 'shard.json'
_SHARD_NAME = re.compile(r'shard-(\d{5,})')


def shard_name(number: int) -> str:
  """The folder of shard ``number``: ``shard-00007``."""
  if number < 0:
    raise ValueError(f'a shard number is not negative, got {number}')
  return f'shard-{number:05d}'


def settings_fingerprint(settings: Mapping[str, Any] | None) -> str:
  """16 hex digits identifying the settings that prepared a shard (their sorted JSON)."""
  text = json.dumps(settings, sort_keys=True, default=str)
  return hashlib.sha256(text.encode()).hexdigest()[:16]


def write_shard(folder: str | pathlib.Path, number: int, records: RecordSet | None,
                rejected: Iterable[Mapping[str, str]] = (), *, settings: Mapping[str, Any] | None,
                files: Mapping[str, str] | None = None,
                arrays: Mapping[str, str | os.PathLike] | None = None) -> pathlib.Path:
  """Write partition ``number``'s records and rejections as a shard of ``folder``, whole or not at all.

  The shard is written under a temporary name and renamed into place; the set's
  index is removed first, as it no longer describes the folder until ``write_index``.

  Args:
    folder: the sharded set's folder (created when missing).
    number: the partition's place in the set's order.
    records: the partition's prepared records; None (or none) when all were rejected.
    rejected: one row per input record of the partition that was refused, with its reason.
    settings: the preparation's settings (JSON-ready); ``finished_shards`` and
      ``write_index`` take a shard as done only for the same settings.
    files: further text files of the shard, {name: text} (e.g. what a resumed
      preparation needs to know of the partition), written with the rest.
    arrays: .npy files already holding the records' arrays, {``WAVEFORMS_FILE`` or
      ``NOISE_FILE``: path}, moved into the shard instead of written; the process
      that wrote them checked them finite (``write_checked_array``). They must be
      on the folder's file system.

  Returns:
    The shard's folder.

  Raises:
    ValueError: naming the shard and the record whose samples are not finite.
  """
  folder = pathlib.Path(folder)
  folder.mkdir(parents=True, exist_ok=True)
  (folder / INDEX_FILE).unlink(missing_ok=True)
  target = folder / shard_name(number)
  # host, process and a random part: writers on several machines never share a temporary name
  stage = folder / f'.{target.name}.partial-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}'
  rejected = list(rejected)
  count = 0 if records is None else len(records)
  try:
    stage.mkdir()
    if count:
      arrays = dict(arrays or {})
      _check_finite(records, target, skip=arrays)
      for name, file in arrays.items():
        os.replace(file, stage / name)
      save_prepared(stage, records, rejected, present=list(arrays))
    elif rejected:
      _write_rows(stage / REJECTED_FILE, rejected)
    for name, text in (files or {}).items():
      (stage / name).write_text(text)
    _write_json(stage / SHARD_FILE, {'records': count, 'rejected': len(rejected),
                                     'settings': settings_fingerprint(settings)})
    return move_shard(stage, folder, number, settings)
  finally:
    shutil.rmtree(stage, ignore_errors=True)


def move_shard(shard: str | pathlib.Path, folder: str | pathlib.Path, number: int,
               settings: Mapping[str, Any] | None) -> pathlib.Path:
  """A finished shard written elsewhere on ``folder``'s file system (``write_shard``) moved in as shard ``number``.

  The set's index is removed (it no longer describes the folder until ``write_index``),
  and a shard of other settings there replaced (one of these settings is kept, and the
  moved one removed). Every shard lands through here, ``write_shard``'s included.

  Returns:
    The shard's folder.
  """
  folder = pathlib.Path(folder)
  (folder / INDEX_FILE).unlink(missing_ok=True)
  target = folder / shard_name(number)
  try:
    _replace(pathlib.Path(shard), target, settings)
  finally:
    shutil.rmtree(shard, ignore_errors=True)
  return target


def is_shard_name(name: str) -> bool:
  """Whether ``name`` is a shard's folder name (``shard_name``)."""
  return _SHARD_NAME.fullmatch(name) is not None


def finished_shards(folder: str | pathlib.Path, settings: Mapping[str, Any] | None) -> set[int]:
  """The numbers of the shards of ``folder`` written completely with ``settings``.

  A shard being written (or left half-written by a killed process) is under a
  temporary name and is not among them; nor is a shard made with other settings.
  """
  folder = pathlib.Path(folder)
  if not folder.is_dir():
    return set()
  fingerprint = settings_fingerprint(settings)
  done = set()
  for entry in folder.iterdir():
    match = _SHARD_NAME.fullmatch(entry.name)
    if match and _shard_fingerprint(entry) == fingerprint:
      done.add(int(match.group(1)))
  return done


def write_index(folder: str | pathlib.Path, numbers: Iterable[int], settings: Mapping[str, Any] | None, *,
                columns: Mapping[str, Sequence[str]] | None = None,
                manifests: Sequence[Mapping[str, np.ndarray] | None] | None = None) -> pathlib.Path:
  """End a sharded set: its index, and the manifest and rejections of its shards in the order of ``numbers``.

  Also writes ``settings`` as preprocess.json (when not None), and removes the
  temporary folders of shards that were never finished and shards not in ``numbers``.
  The index is written last: a folder with an index is a complete set.

  Args:
    folder: the sharded set's folder.
    numbers: every partition of the set, in order.
    settings: the settings every shard was written with.
    columns: per-record manifest columns made once the shards were written (e.g. a
      split of all records), one value per record in the set's order; a column of the
      shards' manifests of the same name is replaced.
    manifests: the manifests' columns (``table_columns``) of the shards ``numbers``, when
      they are at hand: the set's manifest is written from them, not from the shards' files.

  Returns:
    The index file.

  Raises:
    ValueError: naming the shards that are missing or were made with other settings,
      or a column whose length is not the set's record count.
  """
  folder = pathlib.Path(folder)
  numbers = list(numbers)
  if len(set(numbers)) != len(numbers):
    raise ValueError(f'{folder}: a shard is listed twice in {numbers}')
  done = finished_shards(folder, settings)
  missing = [shard_name(n) for n in numbers if n not in done]
  if missing:
    raise ValueError(f'{folder}: shards {", ".join(missing[:5])}{", ..." if len(missing) > 5 else ""} are not '
                     f'finished with these settings; write them first (write_shard)')
  entries = []
  for number in numbers:
    counts = json.loads((folder / shard_name(number) / SHARD_FILE).read_text())
    entries.append({'name': shard_name(number), 'records': counts['records'], 'rejected': counts['rejected']})
  for entry in folder.iterdir():  # leftovers: unfinished temporaries, and shards of no partition now
    match = _SHARD_NAME.fullmatch(entry.name)
    if entry.name.startswith('.shard-') or (match and int(match.group(1)) not in numbers):
      shutil.rmtree(entry, ignore_errors=True)
  total = sum(e['records'] for e in entries)
  for name, values in (columns or {}).items():
    if len(values) != total:
      raise ValueError(f'{folder}: column {name!r} has {len(values)} values for {total} records')
  if manifests is None:
    manifests = [folder / e['name'] / MANIFEST_FILE for e in entries]
  _join_tables(folder, [part for part, e in zip(manifests, entries) if e['records']], MANIFEST_FILE, columns)
  _join_tables(folder, [folder / e['name'] / REJECTED_FILE for e in entries if e['rejected']], REJECTED_FILE)
  if settings is not None:
    _write_json(folder / PREPROCESS_FILE, settings)
  index = {'shards': entries, 'records': total,
           'settings': settings_fingerprint(settings)}
  _write_json(folder / INDEX_FILE, index)
  return folder / INDEX_FILE


def write_sharded(folder: str | pathlib.Path, records: RecordSet, rejected: Iterable[Mapping[str, str]] = (), *,
                  shard_records: int) -> pathlib.Path:
  """``records`` as a complete sharded set of ``shard_records`` records a shard (the rejections in the first).

  Returns:
    The folder.
  """
  if shard_records < 1:
    raise ValueError(f'shard_records must be positive, got {shard_records}')
  settings = records.preprocessing
  starts = range(0, len(records), shard_records)
  for number, first in enumerate(starts):
    part = records.subset(np.arange(first, min(first + shard_records, len(records))))
    write_shard(folder, number, part, rejected if number == 0 else (), settings=settings)
  write_index(folder, range(len(starts)), settings)
  return pathlib.Path(folder)


def _shard_fingerprint(shard: pathlib.Path) -> str | None:
  try:
    return json.loads((shard / SHARD_FILE).read_text()).get('settings')
  except (OSError, ValueError, AttributeError):
    return None


def write_checked_array(file: str | os.PathLike, rows: np.ndarray, record_ids: Sequence[str], what: str) -> None:
  """``rows`` (one per record) as a float32 .npy file, after checking every sample finite.

  Raises:
    ValueError: naming the file and the first record with a NaN or inf sample.
  """
  rows = np.asarray(rows, np.float32)
  _check_rows(rows, 0, record_ids, f'{file}', what)
  save_array(file, rows)


def _check_finite(records: RecordSet, shard: pathlib.Path, skip: Mapping[str, Any] = ()) -> None:
  for file, name, array in ((WAVEFORMS_FILE, 'windows', records.waveforms), (NOISE_FILE, 'noise', records.noise)):
    if array is None or file in skip:
      continue
    for first, rows in rows_in_chunks(array):
      _check_rows(rows, first, records.record_ids, str(shard), name)


def _check_rows(rows: np.ndarray, first: int, record_ids: Sequence[str], where: str, what: str) -> None:
  finite = np.isfinite(rows).all(axis=tuple(range(1, rows.ndim)))
  if not finite.all():
    bad = first + int(np.argmin(finite))
    raise ValueError(f'{where}: record {bad} ({record_ids[bad]}) has NaN or inf {what}')


def _replace(stage: pathlib.Path, target: pathlib.Path, settings: Mapping[str, Any] | None) -> None:
  """``stage`` renamed to ``target``; a shard of other settings there is replaced, one of these kept."""
  if target.exists():
    if _shard_fingerprint(target) == settings_fingerprint(settings):
      return  # written meanwhile by another writer of this partition, from the same input
    old = target.parent / f'.{target.name}.replaced-{stage.name.rsplit("-", 1)[-1]}'
    target.rename(old)
    shutil.rmtree(old, ignore_errors=True)
  try:
    stage.rename(target)
  except OSError:
    if _shard_fingerprint(target) != settings_fingerprint(settings):
      raise


def _join_tables(folder: pathlib.Path, parts: list[pathlib.Path | Mapping[str, np.ndarray]], name: str,
                 added: Mapping[str, Sequence[str]] | None = None) -> None:
  """The CSV tables ``parts`` (files, or their columns as ``table_columns`` reads them) one after another as
  ``folder/name`` (columns: the union, in order of appearance; '' where a table has none), with the ``added``
  columns set row by row. One table is held at a time."""
  target = folder / name
  if not parts:
    target.unlink(missing_ok=True)
    return
  added = added or {}
  columns = {}
  for part in parts:
    if isinstance(part, Mapping):
      columns.update(dict.fromkeys(part))
    else:
      with open(part, newline='') as f:
        columns.update(dict.fromkeys(next(csv.reader(f), [])))
  columns.update(dict.fromkeys(added))
  temporary = folder / f'.{name}.partial-{os.getpid()}'
  first = 0
  with open(temporary, 'w', newline='') as out:
    writer = csv.writer(out)
    writer.writerow(columns)
    for part in parts:
      table = part if isinstance(part, Mapping) else table_columns(part)
      if not table:
        continue
      rows = len(next(iter(table.values())))
      values = [np.asarray(added[column][first:first + rows]).tolist() if column in added
                else table[column].tolist() if column in table else [''] * rows for column in columns]
      writer.writerows(zip(*values))
      first += rows
  os.replace(temporary, target)


def table_columns(file: str | pathlib.Path) -> dict[str, np.ndarray] | None:
  """A CSV table's columns as string arrays (the text its reader sees), or None for a missing or empty table."""
  file = pathlib.Path(file)
  if not file.is_file():
    return None
  with open(file, newline='') as f:
    reader = csv.reader(f)
    header = next(reader, None)
    rows = list(reader)
  if not header or not rows:
    return None
  return {name: np.array(values) for name, values in zip(header, zip(*rows))}


def _write_rows(file: pathlib.Path, rows: list[Mapping[str, str]]) -> None:
  with open(file, 'w', newline='') as f:
    writer = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for row in rows for k in row)), restval='')
    writer.writeheader()
    writer.writerows(rows)


def _write_json(file: pathlib.Path, value: Any) -> None:
  temporary = file.parent / f'.{file.name}.partial-{os.getpid()}'
  temporary.write_text(json.dumps(value, indent=2, default=str) + '\n')
  os.replace(temporary, file)
