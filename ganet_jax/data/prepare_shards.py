"""A preparation written a partition at a time as shards of its output, and resumed after a kill.

Each partition of the input records (or of a SeisBench set's rows) is prepared, in
this process or on a Dask cluster, merged here in input order (the duplicate checks
that span partitions) and written at once as a shard (``shards.write_shard``), so
this process never holds more than a few partitions' windows. The shards are
built in the output's unfinished folder (``outputs.resumable_folder``), which
outlives a run that is killed. Its ``resume.json`` holds the settings that decide
the shards; a rerun with the same settings prepares only the partitions without a
finished shard, after reloading the duplicate-check keys each finished shard kept
(``duplicate_keys.json``), so a record repeating one of a finished partition is
still rejected. The result does not depend on where the partitions were prepared,
nor on how many runs it took.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import pathlib
import shutil
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from ganet_jax.data import duplicates as duplicates_lib
from ganet_jax.data import ingest
from ganet_jax.data import parallel
from ganet_jax.data import partitioned
from ganet_jax.data import seisbench
from ganet_jax.data import shards
from ganet_jax.data.records import MANIFEST_FILE, RecordSet
from ganet_jax.data.records_table import InputRecord

RESUME_FILE = 'resume.json'
KEYS_FILE = 'duplicate_keys.json'
Progress = Callable[[int, int, int], None]


def start_or_resume(stage: pathlib.Path, settings: Mapping[str, Any], *, output: pathlib.Path,
                    fresh: bool) -> None:
  """Readies ``stage`` for a preparation with ``settings``: kept when it holds one with the same settings.

  Args:
    stage: the output's unfinished folder.
    settings: what decides the shards (``resume_settings``), JSON-ready.
    output: the output, for messages.
    fresh: discard an unfinished preparation of other settings instead of refusing.

  Raises:
    ValueError: naming the output and the settings that differ from those of the
      unfinished preparation there (unless ``fresh``).
  """
  file = stage / RESUME_FILE
  settings = json.loads(json.dumps(settings, default=str))
  try:
    earlier = json.loads(file.read_text())
  except (OSError, ValueError):
    earlier = None
  if earlier is not None and earlier != settings:
    if not fresh:
      changed = differences(earlier, settings)
      raise ValueError(f'--output={output}: an unfinished preparation with other settings is in {stage} '
                       f'({"; ".join(changed[:4])}{"; ..." if len(changed) > 4 else ""}); rerun it with its '
                       f'settings to finish it, or pass --overwrite to discard it')
    earlier = None
  if earlier is None:
    for entry in stage.iterdir():
      shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    file.write_text(json.dumps(settings, indent=2, sort_keys=True) + '\n')


def differences(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = '') -> list[str]:
  """'name: old -> new' for each (nested, dotted) setting that differs."""
  lines = []
  for name in sorted(set(old) | set(new)):
    before, after = old.get(name), new.get(name)
    if isinstance(before, dict) and isinstance(after, dict):
      lines += differences(before, after, f'{prefix}{name}.')
    elif before != after:
      lines.append(f'{prefix}{name}: {str(before)[:60]} -> {str(after)[:60]}')
  return lines


def inputs_fingerprint(inputs: Sequence[InputRecord]) -> str:
  """16 hex digits identifying the planned input records (files and table rows), so their partitions."""
  return settings_digest([record.source, [str(f) for f in record.files], list(record.rows)] for record in inputs)


def settings_digest(items) -> str:
  """16 hex digits identifying ``items`` (each JSON-ready), computed one item at a time."""
  digest = hashlib.sha256()
  for item in items:
    digest.update(json.dumps(item, sort_keys=True, default=str).encode())
  return digest.hexdigest()[:16]


class Tally:
  """Running counts over the partitions, reported through a ``progress(done, accepted, rejected)`` callback."""

  def __init__(self, progress: Progress | None):
    self.done = self.accepted = self.rejected = 0
    self._progress = progress

  def add(self, accepted: int, rejected: int) -> None:
    self.done, self.accepted, self.rejected = self.done + accepted + rejected, self.accepted + accepted, \
        self.rejected + rejected
    if self._progress:
      self._progress(self.done, self.accepted, self.rejected)

  def within(self) -> Progress | None:
    """The callback of one partition's merge: its counts on top of the partitions before."""
    if not self._progress:
      return None
    return lambda done, accepted, rejected: self._progress(self.done + done, self.accepted + accepted,
                                                           self.rejected + rejected)


def write_input_shards(stage: pathlib.Path, inputs: Sequence[InputRecord], options: ingest.PrepareOptions, *,
                       settings: Mapping[str, Any], partition_size: int, client=None,
                       finish: Callable[[RecordSet], RecordSet] = lambda records: records,
                       progress: Progress | None = None) -> list[int]:
  """The input records prepared and written as one shard per partition of ``partition_size``.

  Partitions whose shard is finished (with ``settings``) are not prepared again.

  Args:
    stage: the folder the shards go to.
    inputs: the planned input records, in order.
    options: the per-record options.
    settings: the shards' settings (the preprocessing settings).
    partition_size: records per partition and shard.
    client: a Dask client to prepare the partitions on, or None for this process.
    finish: applied to each partition's records before they are written.
    progress: called as ``progress(done, accepted, rejected)`` in input order.

  Returns:
    The shard numbers, in order.
  """
  parts = parallel.partitions(len(inputs), partition_size)
  done = shards.finished_shards(stage, settings)
  duplicates = duplicates_lib.DuplicateCheck()
  repeated = [duplicates.file_duplicate(record) for record in inputs]  # from the tables: no file is read
  to_prepare = [None if reason else record for record, reason in zip(inputs, repeated)]
  todo = [part for number, part in enumerate(parts) if number not in done]
  results = iter(())
  if client is not None and todo:
    results = parallel.map_in_order(partitioned.prepare_partition, [to_prepare[p.start:p.stop] for p in todo],
                                    client, shared=(options,), name='prepare')
  tally = Tally(progress)
  for number, part in enumerate(parts):
    if number in done:
      for record_id, files in _finished_keys(stage, number, tally):
        duplicates.remember_record_id(record_id, files)
      continue
    if client is not None:
      outcomes = zip(inputs[part.start:part.stop], next(results))
    else:
      outcomes = ((inputs[i], None if repeated[i] else ingest.prepare_outcome(inputs[i], options)) for i in part)
    outcomes = ((record, repeated[i] or outcome) for i, (record, outcome) in zip(part, outcomes))
    kept, rejected = ingest.merge_outcomes(outcomes, duplicates, progress=tally.within())
    records = ingest.to_record_set(kept)
    keys = [[p.record_id, p.extra['file']] for p in kept]
    shards.write_shard(stage, number, None if records is None else finish(records), rejected, settings=settings,
                       files={KEYS_FILE: json.dumps(keys)})
    tally.add(len(kept), len(rejected))
  return list(range(len(parts)))


def write_seisbench_shards(stage: pathlib.Path, path: pathlib.Path, options: seisbench.ReadOptions,
                           parts: Sequence[seisbench.Partition], *, settings: Mapping[str, Any], client=None,
                           finish: Callable[[RecordSet | None, list], tuple] = lambda r, rejected: (r, rejected),
                           progress: Progress | None = None) -> list[int]:
  """A SeisBench set's partitions (``seisbench.partitions``) read and written as one shard each.

  Partitions whose shard is finished (with ``settings``) are not read again.

  Args:
    stage: the folder the shards go to.
    path: the set's folder.
    options: split, event type map and preprocessing.
    parts: the set's partitions, in set order.
    settings: the shards' settings (the preprocessing settings).
    client: a Dask client to read the partitions on, or None for this process.
    finish: applied to each partition's (records or None, rejection lines) before they are written.
    progress: called as ``progress(done, accepted, rejected)`` in set order.

  Returns:
    The shard numbers, in order.
  """
  done = shards.finished_shards(stage, settings)
  todo = [part for number, part in enumerate(parts) if number not in done]
  results = iter(())
  if client is not None and todo:
    results = parallel.map_in_order(read_partition_task, todo, client, shared=(str(path), options),
                                    name='seisbench')
  seen: dict[str, tuple[str, int]] = {}
  tally = Tally(progress)
  for number, part in enumerate(parts):
    if number in done:
      seen.update((trace, (chunk, row)) for trace, chunk, row in _finished_keys(stage, number, tally))
      continue
    rows = next(results) if client is not None else seisbench.read_partition(path, part, options)
    keys = [[r.trace, r.chunk, r.row] for r in rows if r.trace not in seen]
    prepared, rejected = seisbench.merge_rows(_counted(rows, tally.within()), seen=seen)
    records, rejected = finish(ingest.to_record_set(prepared), rejected)
    shards.write_shard(stage, number, records, rejected, settings=settings,
                       files={KEYS_FILE: json.dumps(_first_of_each(keys))})
    tally.add(len(prepared), len(rejected))
  return list(range(len(parts)))


def read_partition_task(partition: seisbench.Partition, path: str, options: seisbench.ReadOptions
                        ) -> list[seisbench.RowResult]:
  """``seisbench.read_partition`` with its arguments in the order ``parallel.map_in_order`` passes them."""
  return seisbench.read_partition(path, partition, options)


def manifest_metadata(stage: pathlib.Path, numbers: Sequence[int]) -> RecordSet | None:
  """The records of the shards ``numbers`` without their windows (for checks and splits of the whole set).

  Returns:
    A RecordSet whose waveforms are (n, 0, 0) (no memory), or None without records.
  """
  rows = []
  for number in numbers:
    file = stage / shards.shard_name(number) / MANIFEST_FILE
    if file.is_file():
      with open(file, newline='') as f:
        rows += list(csv.DictReader(f))
  if not rows:
    return None
  column = lambda name: np.array([row[name] for row in rows])
  core = ('record_id', 'event_id', 'event_type', 'label', 'origin_time')
  return RecordSet(waveforms=np.empty((len(rows), 0, 0), np.float32), labels=column('label').astype(np.int32),
                   event_ids=column('event_id'), origin_times=column('origin_time').astype('datetime64[ms]'),
                   event_types=column('event_type'), record_ids=column('record_id'),
                   extra={name: column(name) for name in rows[0] if name not in core})


def _finished_keys(stage: pathlib.Path, number: int, tally: Tally) -> list:
  """The duplicate-check keys a finished shard kept; its counts go to ``tally``."""
  folder = stage / shards.shard_name(number)
  counts = json.loads((folder / shards.SHARD_FILE).read_text())
  tally.add(counts['records'], counts['rejected'])
  return json.loads((folder / KEYS_FILE).read_text())


def _first_of_each(keys: list[list]) -> list[list]:
  """The keys with a trace repeated within the partition kept once, at its first row."""
  first = {}
  for key in keys:
    first.setdefault(key[0], key)
  return list(first.values())


def _counted(rows: Sequence[seisbench.RowResult], progress: Progress | None) -> Iterator[seisbench.RowResult]:
  accepted = 0
  for done, row in enumerate(rows, 1):
    accepted += row.record is not None
    if progress:
      progress(done, accepted, done - accepted)
    yield row


def request_settings(request, exclude: Sequence[str]) -> dict[str, Any]:
  """The request's fields (``PrepareRequest``) but ``exclude``, JSON-ready."""
  fields = {f.name: getattr(request, f.name) for f in dataclasses.fields(request) if f.name not in exclude}
  return json.loads(json.dumps({name: dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value
                                for name, value in fields.items()}, default=str))
