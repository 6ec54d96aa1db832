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
import uuid
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from ganet_jax.data import duplicates as duplicates_lib
from ganet_jax.data import ingest
from ganet_jax.data import parallel
from ganet_jax.data import seisbench
from ganet_jax.data import shards
from ganet_jax.data.records import MANIFEST_FILE, NOISE_FILE, WAVEFORMS_FILE, RecordSet, from_manifest_columns
from ganet_jax.data.records_table import InputRecord

RESUME_FILE = 'resume.json'
KEYS_FILE = 'duplicate_keys.json'
# The windows of prepared partitions, written by the processes that prepared them, until their shard takes them.
SPOOL_FOLDER = '.spool'
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
  remove_spool(stage)


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
  tasks = [(number, to_prepare[part.start:part.stop]) for number, part in enumerate(parts) if number not in done]
  results = _results(prepare_partition, tasks, client, (options, str(stage)), 'prepare')
  tally = Tally(progress)
  for number, part in enumerate(parts):
    if number in done:
      for record_id, files in _finished_keys(stage, number, tally):
        duplicates.remember_record_id(record_id, files)
      continue
    outcomes, spooled = next(results)
    kept, rejected = ingest.merge_outcomes(((inputs[i], repeated[i] or outcome) for i, outcome in zip(part, outcomes)),
                                           duplicates, progress=tally.within())
    records, arrays = spooled.record_set(kept, [o for o in outcomes if isinstance(o, ingest.PreparedRecord)])
    keys = [[p.record_id, p.extra['file']] for p in kept]
    shards.write_shard(stage, number, None if records is None else finish(records), rejected, settings=settings,
                       files={KEYS_FILE: json.dumps(keys)}, arrays=arrays)
    spooled.remove()
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
  tasks = [(number, part) for number, part in enumerate(parts) if number not in done]
  results = _results(read_partition, tasks, client, (str(path), options, str(stage)), 'seisbench')
  seen: dict[str, tuple[str, int]] = {}
  tally = Tally(progress)
  for number, part in enumerate(parts):
    if number in done:
      seen.update((trace, (chunk, row)) for trace, chunk, row in _finished_keys(stage, number, tally))
      continue
    rows, spooled = next(results)
    keys = [[r.trace, r.chunk, r.row] for r in rows if r.trace not in seen]
    prepared, rejected = seisbench.merge_rows(_counted(rows, tally.within()), seen=seen)
    records, arrays = spooled.record_set(prepared, [row.record for row in rows if row.record is not None])
    records, rejected = finish(records, rejected)
    shards.write_shard(stage, number, records, rejected, settings=settings,
                       files={KEYS_FILE: json.dumps(_first_of_each(keys))}, arrays=arrays)
    spooled.remove()
    tally.add(len(prepared), len(rejected))
  return list(range(len(parts)))


def prepare_partition(task: tuple[int, Sequence[InputRecord | None]], options: ingest.PrepareOptions, stage: str
                      ) -> tuple[list[ingest.Outcome | None], 'Spooled']:
  """Partition ``number``'s outcomes, their windows written to ``stage`` (``spool``); None stays None.

  Pure but for that file: it reads the records' files and writes the windows, so it
  runs in any worker that sees the input and the output.
  """
  number, records = task
  outcomes = [None if record is None else ingest.prepare_outcome(record, options) for record in records]
  return spool(outcomes, stage, number, lambda outcome: outcome if isinstance(outcome, ingest.PreparedRecord)
               else None, lambda outcome, record: record)


def read_partition(task: tuple[int, seisbench.Partition], path: str, options: seisbench.ReadOptions, stage: str
                   ) -> tuple[list[seisbench.RowResult], 'Spooled']:
  """``seisbench.read_partition`` of partition ``number``, its windows written to ``stage`` (``spool``)."""
  number, partition = task
  rows = seisbench.read_partition(path, partition, options)
  return spool(rows, stage, number, lambda row: row.record, lambda row, record: row._replace(record=record))


@dataclasses.dataclass(frozen=True)
class Spooled:
  """The files a worker wrote a partition's accepted windows (and noise) to, one row per accepted record.

  ``record_set`` gives the RecordSet of the records the merge kept (a subset of the
  accepted, in order), and the files ``shards.write_shard`` can move into the shard
  as they are: every accepted record was kept, the usual case; otherwise the kept
  rows are read from them.
  """
  windows: str | None
  noise: str | None

  def record_set(self, kept: Sequence[ingest.PreparedRecord], accepted: Sequence[ingest.PreparedRecord]
                 ) -> tuple[RecordSet | None, dict[str, str]]:
    """(RecordSet of ``kept``, the array files to move into its shard, by shard file name).

    Args:
      kept: the records the merge kept, each one of ``accepted`` (the same object).
      accepted: the partition's accepted records, in the order of the files' rows.
    """
    if not kept:
      return None, {}
    positions = {id(record): i for i, record in enumerate(accepted)}
    rows = [positions[id(record)] for record in kept]
    whole = rows == list(range(len(accepted)))
    arrays = {name: file for name, file in ((WAVEFORMS_FILE, self.windows), (NOISE_FILE, self.noise)) if file}
    loaded = {name: np.load(file, mmap_mode='r') for name, file in arrays.items()}
    if not whole:
      loaded = {name: np.asarray(array[rows]) for name, array in loaded.items()}
    records = ingest.to_record_set(kept, loaded[WAVEFORMS_FILE])
    if NOISE_FILE in loaded:
      records = dataclasses.replace(records, noise=loaded[NOISE_FILE])
    return records, arrays if whole else {}

  def remove(self) -> None:
    """Removes the files that were not moved into a shard."""
    for file in (self.windows, self.noise):
      if file:
        pathlib.Path(file).unlink(missing_ok=True)


def spool(items: list, stage: str, number: int, record_of: Callable, with_record: Callable) -> tuple[list, Spooled]:
  """``items`` with their accepted records' windows (and noise) moved to .npy files in ``stage``'s
  ``SPOOL_FOLDER``, so only the records' metadata travels back to the process that writes the shard.

  Args:
    items: a partition's results, in order.
    stage: the unfinished output folder.
    number: the partition's number (in the files' names, with a random part: a rerun
      task never writes over a file an earlier run of it may still be writing).
    record_of: an item's accepted ``PreparedRecord``, or None.
    with_record: the item with its record replaced.

  Raises:
    ValueError: naming the file and the record whose window or noise is not finite.
  """
  accepted = [record for record in map(record_of, items) if record is not None]
  if not accepted:
    return items, Spooled(None, None)
  folder = pathlib.Path(stage) / SPOOL_FOLDER
  folder.mkdir(exist_ok=True)
  stem = folder / f'{shards.shard_name(number)}-{uuid.uuid4().hex[:12]}'
  ids = [record.record_id for record in accepted]
  windows = f'{stem}.windows.npy'
  shards.write_checked_array(windows, np.stack([record.window for record in accepted]), ids, 'window')
  noise = None
  if accepted[0].noise is not None:
    noise = f'{stem}.noise.npy'
    shards.write_checked_array(noise, np.stack([record.noise for record in accepted]), ids, 'noise')
  stripped = {id(record): dataclasses.replace(record, window=None, noise=None) for record in accepted}
  items = [with_record(item, stripped[id(record)]) if (record := record_of(item)) is not None else item
           for item in items]
  return items, Spooled(windows, noise)


def remove_spool(stage: pathlib.Path) -> None:
  """Removes the windows workers wrote that no shard took (of a killed run, or of a task run twice)."""
  shutil.rmtree(stage / SPOOL_FOLDER, ignore_errors=True)


def _results(function: Callable, tasks: list, client, shared: tuple, name: str) -> Iterator:
  """``function(task, *shared)`` of each task, in order: on the cluster, or here when ``client`` is None."""
  if client is None:
    return (function(task, *shared) for task in tasks)
  if not tasks:
    return iter(())
  return parallel.map_in_order(function, tasks, client, shared=shared, name=name)


def manifest_metadata(stage: pathlib.Path, numbers: Sequence[int]) -> RecordSet | None:
  """The records of the shards ``numbers`` without their windows (for checks and splits of the whole set).

  Each shard's manifest becomes columns as it is read, so the rows of only one shard are
  held as Python objects at a time.

  Returns:
    A RecordSet whose waveforms are (n, 0, 0) (no memory), or None without records.
  """
  parts = [part for part in map(_manifest_columns, (stage / shards.shard_name(n) / MANIFEST_FILE for n in numbers))
           if part]
  if not parts:
    return None
  columns = {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
  return from_manifest_columns(columns, np.empty((len(columns['record_id']), 0, 0), np.float32))


def _manifest_columns(file: pathlib.Path) -> dict[str, np.ndarray] | None:
  """A shard manifest's columns as string arrays, or None for a missing or empty manifest."""
  if not file.is_file():
    return None
  with open(file, newline='') as f:
    reader = csv.reader(f)
    header = next(reader, None)
    rows = list(reader)
  if not header or not rows:
    return None
  return {name: np.array(values) for name, values in zip(header, zip(*rows))}


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
