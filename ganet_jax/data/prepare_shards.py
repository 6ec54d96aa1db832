"""A preparation written a partition at a time as shards of its output, and resumed after a kill.

Each partition of the input records (or of a SeisBench set's rows) is prepared and
written as a shard (``shards.write_shard``) by the process that prepared it, in this
process or on a Dask cluster, into the spool of the output's unfinished folder
(``outputs.resumable_folder``). This process then takes the shards in input order
and checks each against the partitions before it (a record or trace met in an
earlier partition is a duplicate): a shard that repeats nothing, the usual case, is
moved into place as it is; one that does is written again from the rows its worker
kept beside it. So the windows and the manifest are made where the records are,
and this process handles only a few keys per record.

The unfinished folder outlives a run that is killed. Its ``resume.json`` holds the
settings that decide the shards; a rerun with the same settings prepares only the
partitions without a finished shard, after reloading the duplicate-check keys each
finished shard kept (``duplicate_keys.json``), so a record repeating one of a
finished partition is still rejected. The result does not depend on where the
partitions were prepared, nor on how many runs it took.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import pathlib
import pickle
import shutil
import uuid
from typing import Any, Callable, Iterator, Mapping, NamedTuple, Sequence

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
# The shards of prepared partitions, written by the processes that prepared them, until they are moved into place.
SPOOL_FOLDER = '.spool'
# Beside a spooled shard: its partition's rows as merged (windows left out), for when it must be written again.
ROWS_FILE = 'rows.pickle'
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
                       settings: Mapping[str, Any] | None, partition_size: int, client=None,
                       progress: Progress | None = None) -> list[dict[str, np.ndarray] | None]:
  """The input records prepared and written as one shard per partition of ``partition_size``.

  Partitions whose shard is finished (with ``settings``) are not prepared again.

  Args:
    stage: the folder the shards go to.
    inputs: the planned input records, in order.
    options: the per-record options.
    settings: the shards' settings (the preprocessing settings, also the records' ``preprocessing``).
    partition_size: records per partition and shard.
    client: a Dask client to prepare the partitions on, or None for this process.
    progress: called as ``progress(done, accepted, rejected)`` in input order.

  Returns:
    Each shard's manifest columns (``shards.table_columns``), in order.
  """
  parts = parallel.partitions(len(inputs), partition_size)
  done = shards.finished_shards(stage, settings)
  duplicates = duplicates_lib.DuplicateCheck()
  repeated = [duplicates.file_duplicate(record) for record in inputs]  # from the tables: no file is read
  tasks = [(number, inputs[part.start:part.stop], repeated[part.start:part.stop])
           for number, part in enumerate(parts) if number not in done]
  tally, manifests = Tally(progress), []
  with _results(prepare_partition, tasks, client, (options, str(stage), settings), 'prepare') as results:
    for number, part in enumerate(parts):
      if number in done:
        keys, manifest = _finished(stage, number, tally)
      else:
        written = next(results)
        if any(duplicates.has_record_id(record_id) for record_id, _ in written.keys):
          merge = lambda outcomes, progress: ingest.merge_outcomes(zip(inputs[part.start:part.stop], outcomes),
                                                                   duplicates, progress=progress)
          keys, manifest = _merge_again(written, number, merge, _input_keys, stage, settings, None, tally)
        else:
          keys, manifest = _take(written, number, stage, settings, tally)
      for record_id, files in keys:
        duplicates.remember_record_id(record_id, files)
      manifests.append(manifest)
  return manifests


def write_seisbench_shards(stage: pathlib.Path, path: pathlib.Path, options: seisbench.ReadOptions,
                           parts: Sequence[seisbench.Partition], *, settings: Mapping[str, Any] | None,
                           source: str | None = None, client=None, progress: Progress | None = None
                           ) -> list[dict[str, np.ndarray] | None]:
  """A SeisBench set's partitions (``seisbench.partitions``) read and written as one shard each.

  Partitions whose shard is finished (with ``settings``) are not read again.

  Args:
    stage: the folder the shards go to.
    path: the set's folder.
    options: split, event type map and preprocessing.
    parts: the set's partitions, in set order.
    settings: the shards' settings (the preprocessing settings, also the records' ``preprocessing``).
    source: the name given in the records' and rejection lines' ``source`` column (None: no such column).
    client: a Dask client to read the partitions on, or None for this process.
    progress: called as ``progress(done, accepted, rejected)`` in set order.

  Returns:
    Each shard's manifest columns (``shards.table_columns``), in order.
  """
  done = shards.finished_shards(stage, settings)
  tasks = [(number, part) for number, part in enumerate(parts) if number not in done]
  seen: dict[str, tuple[str, int]] = {}
  tally, manifests = Tally(progress), []
  shared = (str(path), options, str(stage), settings, source)
  with _results(read_partition, tasks, client, shared, 'seisbench') as results:
    for number in range(len(parts)):
      if number in done:
        keys, manifest = _finished(stage, number, tally)
      else:
        written = next(results)
        if any(trace in seen for trace, _, _ in written.keys):
          new = [[trace, chunk, row] for trace, chunk, row in written.keys if trace not in seen]  # before the merge
          merge = lambda rows, progress: seisbench.merge_rows(_counted(rows, progress), seen=seen)
          keys, manifest = _merge_again(written, number, merge, lambda rows, kept: new, stage, settings, source,
                                        tally)
        else:
          keys, manifest = _take(written, number, stage, settings, tally)
      seen.update((trace, (chunk, row)) for trace, chunk, row in keys)
      manifests.append(manifest)
  return manifests


class Written(NamedTuple):
  """What a worker reports of a partition it prepared and wrote as a shard in the spool (``write_spooled``)."""
  folder: str        # the spool folder of this try: the shard (``shards.shard_name``) and ``ROWS_FILE``
  counts: list[int]  # after each input row, the partition's accepted records so far (for progress)
  keys: list[list]   # the shard's duplicate-check keys (``KEYS_FILE``)
  records: int       # the shard's records
  rejected: int      # and rejection lines
  manifest: dict[str, np.ndarray] | None  # the shard manifest's columns as read back (``shards.table_columns``)


def prepare_partition(task: tuple[int, Sequence[InputRecord], Sequence[str | None]], options: ingest.PrepareOptions,
                      stage: str, settings: Mapping[str, Any] | None) -> Written:
  """Partition ``number`` prepared and written as a shard in ``stage``'s spool (``write_spooled``).

  A record given a rejection reason (a repeat of an earlier record, found from the
  tables) is rejected with it, unread. Pure but for the files: it reads the records'
  files and writes the shard, so it runs in any worker that sees the input and the output.
  """
  number, records, reasons = task
  outcomes = [reason or ingest.prepare_outcome(record, options) for record, reason in zip(records, reasons)]
  record_of = lambda outcome: outcome if isinstance(outcome, ingest.PreparedRecord) else None
  outcomes, spooled = spool(outcomes, stage, number, record_of, lambda outcome, record: record)
  merge = lambda progress: ingest.merge_outcomes(zip(records, outcomes), duplicates_lib.DuplicateCheck(),
                                                 progress=progress)
  accepted = [outcome for outcome in outcomes if record_of(outcome) is not None]
  return write_spooled(stage, number, outcomes, accepted, spooled, merge, _input_keys, settings)


def read_partition(task: tuple[int, seisbench.Partition], path: str, options: seisbench.ReadOptions, stage: str,
                   settings: Mapping[str, Any] | None, source: str | None = None) -> Written:
  """``seisbench.read_partition`` of partition ``number``, written as a shard in ``stage``'s spool
  (``write_spooled``), ``source`` in its ``source`` column (None: no such column)."""
  number, partition = task
  rows = seisbench.read_partition(path, partition, options)
  rows, spooled = spool(rows, stage, number, lambda row: row.record, lambda row, record: row._replace(record=record))
  merge = lambda progress: seisbench.merge_rows(_counted(rows, progress))
  keys = lambda rows, kept: _first_of_each([[row.trace, row.chunk, row.row] for row in rows])
  accepted = [row.record for row in rows if row.record is not None]
  return write_spooled(stage, number, rows, accepted, spooled, merge, keys, settings, source)


def write_spooled(stage: str, number: int, rows: list, accepted: list, spooled: 'Spooled', merge: Callable,
                  keys: Callable, settings: Mapping[str, Any] | None, source: str | None = None) -> Written:
  """A partition's rows, merged on their own, written as a shard in a new folder of ``stage``'s spool.

  Beside the shard go the rows and the records it kept (``ROWS_FILE``), for when
  the shard must be written again (some of its records repeat an earlier partition's).

  Args:
    stage: the unfinished output folder.
    number: the partition's number.
    rows: its rows (or outcomes), in order.
    accepted: their accepted records, in order, whose windows ``spooled`` holds (``spool``).
    spooled: the files holding those windows.
    merge: ``merge(progress)`` -> (kept records, rejection lines) of the rows, the
      duplicates among them rejected, calling ``progress(done, accepted, rejected)``.
    keys: ``keys(rows, kept)``, the shard's duplicate-check keys.
    settings: the shard's settings, also the records' ``preprocessing``.
    source: as ``write_seisbench_shards``'.
  """
  counts = []
  kept, rejected = merge(lambda done, accepted, refused: counts.append(accepted))
  folder = pathlib.Path(stage) / SPOOL_FOLDER / f'{shards.shard_name(number)}-{uuid.uuid4().hex[:12]}'
  folder.mkdir(parents=True)
  (folder / ROWS_FILE).write_bytes(pickle.dumps((rows, kept), protocol=pickle.HIGHEST_PROTOCOL))
  keys = keys(rows, kept)
  _write_shard(folder, number, kept, accepted, spooled, rejected, keys, settings, source)
  spooled.remove()
  manifest = shards.table_columns(folder / shards.shard_name(number) / MANIFEST_FILE)
  return Written(str(folder), counts, keys, len(kept), len(rejected), manifest)


def _write_shard(folder: pathlib.Path, number: int, kept: list, accepted: list, spooled: 'Spooled',
                 rejected: list[dict[str, str]], keys: list, settings: Mapping[str, Any] | None,
                 source: str | None) -> None:
  """``kept`` (some of ``accepted``, whose windows ``spooled`` holds) and ``rejected`` as shard ``number`` of
  ``folder``, with their source and preprocessing settings."""
  records, arrays = spooled.record_set(kept, accepted)
  if source is not None:
    rejected = [{'source': source, **line} for line in rejected]
    if records is not None:
      records = dataclasses.replace(records, extra={**records.extra, 'source': np.full(len(records), source)})
  if records is not None:
    records = dataclasses.replace(records, preprocessing=settings)
  shards.write_shard(folder, number, records, rejected, settings=settings, files={KEYS_FILE: json.dumps(keys)},
                     arrays=arrays)


def _take(written: Written, number: int, stage: pathlib.Path, settings, tally: Tally
          ) -> tuple[list[list], dict[str, np.ndarray] | None]:
  """The spooled shard of ``written`` moved into place as it is; its keys and manifest columns."""
  _replay(written.counts, tally.within())
  shards.move_shard(pathlib.Path(written.folder) / shards.shard_name(number), stage, number, settings)
  shutil.rmtree(written.folder, ignore_errors=True)
  tally.add(written.records, written.rejected)
  return written.keys, written.manifest


def _merge_again(written: Written, number: int, merge: Callable, keys: Callable, stage: pathlib.Path, settings,
                 source: str | None, tally: Tally) -> tuple[list[list], dict[str, np.ndarray] | None]:
  """Shard ``number`` written again from its spooled rows by ``merge(rows, progress)``, the merge with the
  partitions before (some of its records repeat theirs); its keys (``keys(rows, kept)``) and manifest columns."""
  folder = pathlib.Path(written.folder)
  rows, in_shard = pickle.loads((folder / ROWS_FILE).read_bytes())
  kept, rejected = merge(rows, tally.within())
  shard = folder / shards.shard_name(number)
  arrays = [str(shard / name) if (shard / name).is_file() else None for name in (WAVEFORMS_FILE, NOISE_FILE)]
  keys = keys(rows, kept)
  _write_shard(stage, number, kept, in_shard, Spooled(*arrays), rejected, keys, settings, source)
  shutil.rmtree(folder, ignore_errors=True)
  tally.add(len(kept), len(rejected))
  return keys, shards.table_columns(stage / shards.shard_name(number) / MANIFEST_FILE)


def _input_keys(outcomes: list, kept: list[ingest.PreparedRecord]) -> list[list]:
  """A shard of input records' duplicate-check keys: each kept record's id and files."""
  return [[p.record_id, p.extra['file']] for p in kept]


def _replay(counts: list[int], progress: Progress | None) -> None:
  """A partition's progress calls, from its accepted count after each row."""
  if progress:
    for done, accepted in enumerate(counts, 1):
      progress(done, accepted, done - accepted)


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
  ``SPOOL_FOLDER``: the shard takes the files as they are (``Spooled.record_set``), and the rows kept
  beside it (``ROWS_FILE``) carry no windows.

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


def _results(function: Callable, tasks: list, client, shared: tuple, name: str
             ) -> contextlib.closing[Iterator]:
  """``function(task, *shared)`` of each task, in order: on the cluster, or here when ``client`` is None.

  The iterator is closed when the caller's block ends, however it ends: its queued
  tasks are cancelled while the cluster is still there, not when an error's
  traceback lets the iterator go (by then the cluster may be closed).
  """
  if client is None or not tasks:
    return contextlib.closing(function(task, *shared) for task in tasks)
  return contextlib.closing(parallel.map_in_order(function, tasks, client, shared=shared, name=name))


def manifest_metadata(manifests: Sequence[dict[str, np.ndarray] | None]) -> RecordSet | None:
  """The records of shards whose manifest columns are ``manifests`` (``shards.table_columns``), without their windows
  (for checks and splits of the whole set).

  Returns:
    A RecordSet whose waveforms are (n, 0, 0) (no memory), or None without records.
  """
  parts = [part for part in manifests if part]
  if not parts:
    return None
  columns = {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
  return from_manifest_columns(columns, np.empty((len(columns['record_id']), 0, 0), np.float32))


def _finished(stage: pathlib.Path, number: int, tally: Tally) -> tuple[list, dict[str, np.ndarray] | None]:
  """The duplicate-check keys and manifest columns of a finished shard; its counts go to ``tally``."""
  folder = stage / shards.shard_name(number)
  counts = json.loads((folder / shards.SHARD_FILE).read_text())
  tally.add(counts['records'], counts['rejected'])
  return json.loads((folder / KEYS_FILE).read_text()), shards.table_columns(folder / MANIFEST_FILE)


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
