"""A prepared data-set folder made of input folders (or a SeisBench dataset): ``prepare`` and its parts.

  counts = prepare(['../shared/data/pnw'], ['labels.csv'], [], 'prepared/pnw', PrepareRequest())

The work is split where a parallel or sharded driver splits it:

  plan_inputs       the input records of every source (tables read, folders scanned), no waveform read
  write_shards      each partition of ``--partition_size`` records prepared and written as a shard where it
                    is prepared (in this process or on a Dask cluster, ``cluster_for``), then checked against
                    the partitions before, in input order (``prepare_shards``); partitions a killed run
                    finished are kept
  finish_set        the shards joined from their manifests' columns: the event check across sources, the
                    split column, the index
  summary_lines     the counts printed at the end, with a real example of each kind of rejection

``prepare`` is the driver: every setting and path is checked before any record is read;
the set is built in the output's unfinished folder beside it and moved into place when
complete (``outputs.resumable_folder``), under the output's lock. Every prepared set is
sharded (one shard per partition), whatever its size.
"""

from __future__ import annotations

import collections
import contextlib
import csv
import dataclasses
import importlib
import pathlib
import time
from typing import Callable, Iterator, Mapping, NamedTuple, Sequence

from absl import logging
import numpy as np
import obspy

from ganet_jax.data import catalog as catalog_lib
from ganet_jax.data import ingest
from ganet_jax.data import labels as labels_lib
from ganet_jax.data import outputs
from ganet_jax.data import parallel
from ganet_jax.data import picking
from ganet_jax.data import prepare_settings
from ganet_jax.data import prepare_shards
from ganet_jax.data import records as records_lib
from ganet_jax.data import rejections
from ganet_jax.data import seisbench
from ganet_jax.data import shards
from ganet_jax.data import sources as sources_lib
from ganet_jax.data import splits
from ganet_jax.data.preprocess import PreprocessConfig
from ganet_jax.data.records import RecordSet
from ganet_jax.data.records_table import InputRecord
from ganet_jax.progress import Progress

SKIPPED_FILE = 'skipped.csv'
OUTPUT_FILES = (records_lib.WAVEFORMS_FILE, records_lib.MANIFEST_FILE, records_lib.REJECTED_FILE,
                records_lib.PREPROCESS_FILE, records_lib.NOISE_FILE, records_lib.INDEX_FILE, SKIPPED_FILE)
FORMATS = ('obspy', 'seisbench')
P_FALLBACKS = ('travel_time', 'none')


@dataclasses.dataclass(frozen=True)
class PrepareRequest:
  """What ``prepare`` makes of its inputs; each field is the ``experiments.prepare`` flag of its name.

  Attributes:
    preprocess: the windows' preprocessing.
    format: 'obspy' (waveform files, with or without a records table) or 'seisbench'.
    column_map: 'field=column' pairs for the records table.
    event_type_map: extra event-type decisions, 'type=known type or 0/1' pairs.
    unlabeled: records of unknown type (label -1), for self-supervised pretraining.
    catalog: QuakeML catalog file (event type, origin, P picks), or None.
    inventory: StationXML inventory file (station coordinates), or None.
    p_fallback: without a pick or STA/LTA onset: 'travel_time' (flagged) or 'none' (reject).
    sta_lta_threshold: the STA/LTA trigger ratio.
    split: SeisBench format only: the dataset split kept.
    chunks: SeisBench format only: the chunks read (all when empty).
    split_boundaries: increasing origin times of a chronological split column.
    split_names: the names of the split column's splits.
    random_split: fractions of events of a seeded event-grouped random split column.
    split_seed: the random split's seed.
    overwrite: replace a prepared set already in the output.
    workers: worker processes of the local Dask cluster (None: the cores this process may use).
    scheduler: address of a running Dask scheduler to prepare on instead, or None.
    scheduler_file: the scheduler file of a running Dask scheduler to prepare on instead, or None.
    partition_size: records per partition (the output does not depend on it or on the workers).
  """
  preprocess: PreprocessConfig = PreprocessConfig()
  format: str = 'obspy'
  column_map: str = ''
  event_type_map: str = ''
  unlabeled: bool = False
  catalog: str | None = None
  inventory: str | None = None
  p_fallback: str = ingest.PrepareOptions.p_fallback
  sta_lta_threshold: float = picking.PickerConfig.threshold
  split: str | None = None
  chunks: Sequence[str] = ()
  split_boundaries: Sequence[str] = ()
  split_names: Sequence[str] = ('train', 'test')
  random_split: Sequence[str] = ()
  split_seed: int = 0
  overwrite: bool = False
  workers: int | None = None
  scheduler: str | None = None
  scheduler_file: str | None = None
  partition_size: int = parallel.DEFAULT_PARTITION_SIZE

  def check(self) -> None:
    """Checks the settings not checked where they are used, before any work.

    Raises:
      ValueError: naming the flag and what is wrong.
    """
    if self.format not in FORMATS:
      raise ValueError(f'--format={self.format}: one of {", ".join(FORMATS)}')
    if self.p_fallback not in P_FALLBACKS:
      raise ValueError(f'--p_fallback={self.p_fallback}: one of {", ".join(P_FALLBACKS)}')
    if self.split_boundaries and self.random_split:
      raise ValueError('--split_boundaries and --random_split are exclusive')
    names = list(self.split_names)
    if len(set(names)) != len(names) or not all(name.strip() for name in names):
      raise ValueError(f'--split_names={",".join(names)}: each split needs a name of its own (e.g. '
                       'train,validation,test)')
    if self.split_boundaries:
      _check_boundaries(self.split_boundaries, self.split_names)
    if self.random_split:
      _check_fractions(self.random_split, self.split_names)
    for flag in ('split', 'chunks'):
      if getattr(self, flag) and self.format != 'seisbench':
        raise ValueError(f'--{flag} reads part of a SeisBench dataset; use it with --format=seisbench')
    if self.partition_size < 1:
      raise ValueError(f'--partition_size={self.partition_size}: must be >= 1')
    parallel.check_cluster_choice(self.workers, self.scheduler, self.scheduler_file, prefix='--')
    if self.preprocess.noise_s and self.format == 'seisbench':
      raise ValueError(f'--noise_s={self.preprocess.noise_s:g}: pre-event noise is kept for --format=obspy records only')

  def options(self) -> ingest.PrepareOptions:
    """The per-record options (``ingest.PrepareOptions``), the catalog and inventory read.

    Raises:
      ValueError: naming --catalog or --inventory when its file is missing or not of its kind.
    """
    return ingest.PrepareOptions(
        preprocess=self.preprocess, picker=picking.PickerConfig(threshold=self.sta_lta_threshold),
        event_type_map=labels_lib.parse_mapping(self.event_type_map), p_fallback=self.p_fallback,
        catalog=read_named_file('catalog', self.catalog, catalog_lib.read_catalog, 'a QuakeML catalog'),
        inventory=read_named_file('inventory', self.inventory, obspy.read_inventory, 'a StationXML inventory'),
        unlabeled=self.unlabeled)


def _check_boundaries(boundaries: Sequence[str], names: Sequence[str]) -> None:
  try:
    edges = np.asarray(boundaries, dtype='datetime64[ms]')
  except ValueError:
    raise ValueError(f'--split_boundaries={",".join(boundaries)}: not times (e.g. 2017-01-01)') from None
  if np.any(np.diff(edges) <= np.timedelta64(0, 'ms')):
    raise ValueError(f'--split_boundaries={",".join(boundaries)}: must increase')
  if len(names) != len(edges) + 1:
    raise ValueError(f'--split_names={",".join(names)}: {len(edges)} boundaries need {len(edges) + 1} names')


def _check_fractions(fractions: Sequence[str], names: Sequence[str]) -> None:
  try:
    values = [float(f) for f in fractions]
  except ValueError:
    raise ValueError(f'--random_split={",".join(fractions)}: not numbers') from None
  if len(values) != len(names) or not np.isclose(sum(values), 1.0) or min(values) < 0:
    raise ValueError(f'--random_split={",".join(fractions)}: needs one fraction >= 0 per --split_names '
                     f'({",".join(names)}), summing to 1')


def read_named_file(flag: str, path: str | None, reader: Callable, what: str):
  """``reader(path)`` (None when ``path`` is unset); errors name ``--<flag>``."""
  if not path:
    return None
  if not pathlib.Path(path).is_file():
    raise ValueError(f'--{flag}={path}: not a file')
  try:
    return reader(path)
  except Exception as error:  # ObsPy raises many types for a file of the wrong format
    raise ValueError(f'--{flag}={path}: not {what} ObsPy reads ({type(error).__name__}: {str(error)[:160]})') from None


class Plan(NamedTuple):
  """The input records of every source, before any waveform is read."""
  inputs: list[InputRecord]
  per_source: dict[str, int]          # input records per source name
  skipped: list[dict[str, str]]       # files under an input not taken as waveforms {source, file, reason}


def plan_inputs(sources: Sequence[sources_lib.Source], request: PrepareRequest) -> Plan:
  """The input records of ``sources`` (tables read, folders scanned); a SeisBench input plans nothing here.

  Raises:
    ValueError, FileNotFoundError: an unusable records table, naming it and the row.
  """
  if request.format == 'seisbench':
    if len(sources) != 1:
      raise ValueError('--format=seisbench reads one --input')
    return Plan([], {}, [])
  exclude = [pathlib.Path(p) for p in (request.catalog, request.inventory) if p]
  inputs, per_source, skipped = [], {}, []
  for source in sources:
    found, passed_over = sources_lib.source_records(source, labels_lib.parse_mapping(request.column_map),
                                                    labelled=not request.unlabeled, exclude=exclude)
    inputs += found
    skipped += passed_over
    per_source[source.name] = len(found)
  return Plan(inputs, per_source, skipped)


@contextlib.contextmanager
def cluster_for(request: PrepareRequest, n_records: int, n_partitions: int,
                log: Callable[[str], None] = logging.info) -> Iterator[object]:
  """The Dask client ``request`` prepares its partitions on, or None to prepare them in this process.

  A local cluster has no more workers than partitions, and a set of at most one
  partition's records is prepared here: starting worker processes would cost more
  than the work. The workers load the preparation's modules before the first
  partition is sent, and the log says how long the cluster took to be ready, so
  the preparation's own rate can be told from its start-up.
  """
  joined = request.scheduler or request.scheduler_file
  if not joined and n_records <= request.partition_size:
    yield None
    return
  started = time.perf_counter()
  workers = None if joined else min(request.workers or parallel.default_workers(), n_partitions)
  # the shards are written when the block ends: the set's index and summary need not wait for the workers to stop
  with parallel.cluster_client(workers, request.scheduler, request.scheduler_file, prefix='--',
                               close_in_background=True) as client:
    client.run(importlib.import_module, prepare_shards.__name__)
    log(f'preparing {n_partitions} partitions of up to {request.partition_size} records on '
        f'{parallel.describe(client)}, ready in {time.perf_counter() - started:.1f} s')
    yield client


def split_column(records: RecordSet, request: PrepareRequest) -> np.ndarray | None:
  """The 'split' column of ``request``'s split settings (None without any).

  Raises:
    ValueError: from the split functions (e.g. names not matching boundaries).
  """
  if request.split_boundaries:
    indices = splits.chronological_split(records, list(request.split_boundaries), list(request.split_names))
  elif request.random_split:
    indices = splits.event_grouped_random_split(records, [float(f) for f in request.random_split],
                                                seed=request.split_seed, names=list(request.split_names))
  else:
    return None
  column = np.empty(len(records), dtype=object)
  for name, index in indices.items():
    column[index] = name
  return column.astype(str)


def write_csv(path: pathlib.Path, columns: Sequence[str], rows) -> None:
  """``rows`` (dicts) as a CSV file with ``columns``."""
  with open(path, 'w', newline='') as f:
    writer = csv.DictWriter(f, fieldnames=list(columns))
    writer.writeheader()
    writer.writerows(rows)


def per_source_counts(inputs_per_source: Mapping[str, int], records: RecordSet | None,
                      rejected: Sequence[Mapping[str, str]]) -> dict[str, dict[str, int]]:
  """{source: {'input', 'accepted', 'rejected'}}.

  Raises:
    RuntimeError: when a source's accepted + rejected differs from its input (a bug, never bad data).
  """
  accepted = collections.Counter(records.sources) if records is not None else collections.Counter()
  refused = collections.Counter(line['source'] for line in rejected)
  counts = {}
  for name, n in inputs_per_source.items():
    counts[name] = {'input': n, 'accepted': accepted[name], 'rejected': refused[name]}
    if accepted[name] + refused[name] != n:
      raise RuntimeError(f'source {name}: {accepted[name]} accepted + {refused[name]} rejected != {n} input')
  return counts


def summary_lines(counts: Mapping, records: RecordSet | None, rejected, output: pathlib.Path, elapsed: float, *,
                  unlabeled: bool = False) -> list[str]:
  """The run's summary: counts in all and per source, classes, P onset methods, splits, rejections by kind."""
  total = counts['input']
  lines = [f'input {total}: accepted {counts["accepted"]}, rejected {counts["rejected"]} '
           f'({elapsed:.1f} s, {total / max(elapsed, 1e-9):.1f} records/s) -> {output}']
  if len(counts['sources']) > 1:
    lines += [f'  source {name}: input {c["input"]}: accepted {c["accepted"]}, rejected {c["rejected"]}'
              for name, c in counts['sources'].items()]
  if records is not None:
    if unlabeled:
      lines.append(f'  accepted unlabeled (type unknown): {len(records)}')
    else:
      lines.append(f'  accepted by class: tectonic {records.class_counts()[0]}, '
                   f'non-tectonic {records.class_counts()[1]}')
    if 'p_method' in records.extra:
      methods = collections.Counter(m.split(' ')[0] for m in records.extra['p_method'])
      lines.append('  P onset methods: ' + ', '.join(f'{k} {v}' for k, v in methods.most_common()))
    if 'split' in records.extra:
      lines.append('  split: ' + ', '.join(f'{k} {v}' for k, v in collections.Counter(records.extra['split']).items()))
  lines += [f'  rejected {kind.count:5d}, e.g. {kind.example}' for kind in rejections.reason_kinds(rejected)]
  if counts['skipped']:
    lines.append(f'  {counts["skipped"]} files under --input skipped (not waveforms), listed in {SKIPPED_FILE}')
  return lines


def progress_reporter(total: int | None, *, enabled: bool | None, every: int,
                      between_records: Callable[[], None] = lambda: None) -> Callable[[int, int, int], None]:
  """The readers' ``progress(done, accepted, rejected)`` callback, shown as ``ganet_jax.progress`` lines.

  ``between_records`` runs after every record (a binary stops there on an interrupt a
  reader swallowed).
  """
  shown = Progress(total, 'records', enabled=enabled, label='prepare', every=every)

  def report(done: int, accepted: int, rejected: int) -> None:
    between_records()
    shown.update(done - shown.count, note=f'{accepted} accepted, {rejected} rejected')
  return report


# Flags that do not change the shards: where they are prepared, and the split column, made at the end.
NOT_RESUME_SETTINGS = ('workers', 'scheduler', 'scheduler_file', 'overwrite', 'split_boundaries', 'split_names',
                       'random_split', 'split_seed')


def resume_settings(sources: Sequence[sources_lib.Source], request: PrepareRequest, inputs: str) -> dict:
  """What decides a preparation's shards: the request's flags but ``NOT_RESUME_SETTINGS``, the sources, and
  ``inputs`` (a fingerprint of the planned records or of the SeisBench set's partitions)."""
  return {'request': prepare_shards.request_settings(request, NOT_RESUME_SETTINGS),
          'sources': [[s.name, str(s.root.absolute()), str(s.table.absolute()) if s.table else ''] for s in sources],
          'inputs': inputs}


def write_shards(stage: pathlib.Path, output: pathlib.Path, sources: Sequence[sources_lib.Source], plan: Plan,
                 request: PrepareRequest, options: ingest.PrepareOptions, *, progress: Callable[[int, int, int], None],
                 log: Callable[[str], None] = logging.info) -> list[dict[str, np.ndarray] | None]:
  """Every partition prepared into a shard of ``stage`` (``prepare_shards``), finished ones kept; the shards'
  manifest columns (``shards.table_columns``), in order.

  Raises:
    ValueError: an unfinished preparation with other settings in ``stage`` (without --overwrite).
  """
  settings = prepare_settings.settings(options)
  if request.format == 'seisbench':
    source = sources[0]
    parts = seisbench.partitions(source.root, list(request.chunks) or None, request.partition_size)
    identity = prepare_shards.settings_digest([dataclasses.astuple(part) for part in parts])
    prepare_shards.start_or_resume(stage, resume_settings(sources, request, identity), output=output,
                                   fresh=request.overwrite)
    done = shards.finished_shards(stage, settings)
    todo = [part for number, part in enumerate(parts) if number not in done]
    read = seisbench.ReadOptions(split=request.split, event_type_map=dict(options.event_type_map),
                                 config=options.preprocess)
    with cluster_for(request, sum(p.stop - p.start for p in todo), len(todo), log) as client:
      return prepare_shards.write_seisbench_shards(stage, source.root, read, parts, settings=settings,
                                                   source=source.name, client=client, progress=progress)
  prepare_shards.start_or_resume(stage, resume_settings(sources, request, prepare_shards.inputs_fingerprint(
      plan.inputs)), output=output, fresh=request.overwrite)
  parts = parallel.partitions(len(plan.inputs), request.partition_size)
  done = shards.finished_shards(stage, settings)
  remaining = sum(len(part) for number, part in enumerate(parts) if number not in done)
  if done:
    log(f'resuming: {len(done)} of {len(parts)} partitions already prepared')
  with cluster_for(request, remaining, len(parts) - len(done), log) as client:
    return prepare_shards.write_input_shards(stage, plan.inputs, options, settings=settings,
                                             partition_size=request.partition_size, client=client,
                                             progress=progress)


def finish_set(stage: pathlib.Path, manifests: Sequence[dict[str, np.ndarray] | None], request: PrepareRequest,
               options: ingest.PrepareOptions, skipped) -> RecordSet | None:
  """The shards of ``stage``, whose manifest columns are ``manifests``, joined into one set: the event check, the
  split column, the index.

  Returns:
    The set's records without their windows (``prepare_shards.manifest_metadata``), or
    None without any.

  Raises:
    ValueError: an event id that means two events (in one table, from a table and a
      catalog, or in two sources), or a split that cannot be made.
  """
  metadata = prepare_shards.manifest_metadata(manifests)
  columns = {}
  if metadata is not None:
    splits.check_events_consistent(metadata)
    column = split_column(metadata, request)
    if column is not None:
      columns['split'] = column
      metadata = dataclasses.replace(metadata, extra={**metadata.extra, 'split': column})
  shards.write_index(stage, range(len(manifests)), prepare_settings.settings(options), columns=columns,
                     manifests=manifests)
  if skipped:
    write_csv(stage / SKIPPED_FILE, ('source', 'file', 'reason'), skipped)
  prepare_shards.remove_spool(stage)
  (stage / prepare_shards.RESUME_FILE).unlink()
  return metadata


def read_rejections(folder: pathlib.Path) -> list[dict[str, str]]:
  """The rejection lines of a prepared set (none when it has no rejected.csv)."""
  file = folder / records_lib.REJECTED_FILE
  if not file.is_file():
    return []
  with open(file, newline='') as f:
    return list(csv.DictReader(f))


def prepare_sources(sources: Sequence[sources_lib.Source], output: pathlib.Path, request: PrepareRequest, *,
                    progress: bool | None = None, progress_every: int = 100,
                    between_records: Callable[[], None] = lambda: None,
                    log: Callable[[str], None] = logging.info) -> dict[str, object]:
  """Prepare ``sources`` into one sharded set in ``output`` (the caller holds its lock); returns the counts.

  The shards are built in the output's unfinished folder (``outputs.resumable_folder``),
  which a killed run leaves behind: the same command run again continues it.

  Returns:
    {'input', 'accepted', 'rejected', 'skipped'} counts in all, and 'sources': the
    input/accepted/rejected counts per source name.
  """
  started = time.perf_counter()
  options = request.options()
  own = OUTPUT_FILES + tuple(p.name for p in output.glob('shard-*') if shards.is_shard_name(p.name))
  outputs.check_output_folder(output, own, overwrite=request.overwrite)
  plan = plan_inputs(sources, request)
  for source in sources if request.format == 'obspy' else ():
    found = [r for r in plan.inputs if r.source == source.name]
    passed_over = sum(line['source'] == source.name for line in plan.skipped)
    log(f'{source.name}: {len(found)} input records from {sum(len(r.files) for r in found)} files'
        + (f' ({passed_over} other files skipped, listed in {SKIPPED_FILE})' if passed_over else ''))
  total = None if request.format == 'seisbench' else len(plan.inputs)
  with outputs.resumable_folder(output) as stage:
    manifests = write_shards(stage, output, sources, plan, request, options, log=log, progress=progress_reporter(
        total, enabled=progress, every=progress_every, between_records=between_records))
    # the summary reads the manifest only: every window was checked as its worker wrote it
    records = finish_set(stage, manifests, request, options, plan.skipped)
  if records is None:
    log('no record accepted; only the rejection report was written')
  rejected = read_rejections(output)
  per_source = dict(plan.per_source)
  if request.format == 'seisbench':
    per_source = {sources[0].name: len(records or ()) + len(rejected)}
  counts = {'input': sum(per_source.values()), 'accepted': len(records) if records is not None else 0,
            'rejected': len(rejected), 'skipped': len(plan.skipped),
            'sources': per_source_counts(per_source, records, rejected)}
  for line in summary_lines(counts, records, rejected, output, time.perf_counter() - started,
                            unlabeled=request.unlabeled):
    log(line)
  return counts


def prepare(inputs: Sequence[str], tables: Sequence[str], names: Sequence[str], output: str | pathlib.Path,
            request: PrepareRequest, **kwargs) -> dict[str, object]:
  """Prepare the input folders into one prepared set in ``output``; returns the counts (``prepare_sources``).

  Args:
    inputs: the input folders (or one SeisBench dataset folder).
    tables: none, or one records table per input, paired by position (``sources.resolve_sources``).
    names: none, or one source name per input (default: the folder's name).
    output: the prepared set's folder: new, empty, or an earlier set with ``request.overwrite``.
    request: what to make of the inputs.
    **kwargs: ``prepare_sources``' progress, progress_every, between_records and log.

  Raises:
    ValueError, FileNotFoundError: a bad setting, an unusable input or records table, an
      output another run is writing or that holds other files, or event ids that clash
      between sources, naming the flag, file or event (bad records are rejections, not errors).
  """
  request.check()
  sources = sources_lib.resolve_sources(inputs, tables, names)
  # held from the output's check to its move into place: two runs on one output never both write it
  with outputs.output_lock(output, flag='--output'):
    return prepare_sources(sources, pathlib.Path(output), request, **kwargs)
