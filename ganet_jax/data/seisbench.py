"""SeisBench-format datasets, chunked or not, read with h5py alone and with bounded memory.

The layout (as SeisBench writes it):

  - chunks: a large set is split into chunks, each a ``metadata{chunk}.csv`` and a
    ``waveforms{chunk}.hdf5``; an optional ``chunks`` file lists the chunk names one a
    line, else they are the names shared by metadata*.csv and waveforms*.hdf5. An
    unchunked set is the chunk '' (``metadata.csv`` + ``waveforms.hdf5``).
  - traces: a metadata row's ``trace_name`` locates its samples under ``data/`` of its
    chunk's HDF5 file, as a dataset name or, bucketed, as ``'bucket3$0,:3,:15001'``
    (dataset ``bucket3``, index ``[0, :3, :15001]``; spaces in the index are ignored, so
    ``'bucket3$0, :3, :15001'`` is the same trace).
  - ``data_format`` (an HDF5 group): ``component_order`` ('ZNE' by default; a
    ``trace_component_order`` column overrides it per trace), ``dimension_order`` ('CW'
    channels x samples by default, or 'WC') and ``sampling_rate``, which rows without
    ``trace_sampling_rate_hz`` (or ``trace_dt_s``) use.
  - columns: P arrivals are sample indices under ``trace_p_arrival_sample`` or
    ``trace_P_arrival_sample``; the origin is ``source_origin_time`` (a row without one
    is rejected: no event time is made up); labels come from ``source_type`` (QuakeML
    types: PNW's earthquake is tectonic, explosion non-tectonic, and surface event,
    sonic boom and thunder are refused unless mapped) or, failing that,
    ``trace_category`` whose first word is the type ('earthquake_local' -> 'earthquake').
    The ``split`` column is kept in ``extra['split']``, the chunk in ``extra['chunk']``.

Windows go through the same preprocessing as files (``preprocess``).

A set is read in partitions, ranges of rows of one chunk (``partitions``), each by a
pure function of picklable arguments (``read_partition``) that streams its rows and
opens the HDF5 file itself, so partitions can be read in any process and in any
order; ``merge_rows`` then puts the rows of all partitions back in set order and
rejects a trace listed twice. ``read_dataset`` does all three in one process.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import pathlib
import re
from typing import Callable, Iterable, Iterator, Mapping, NamedTuple, Sequence, TypeVar

import h5py
import numpy as np
import obspy

from ganet_jax import conventions
from ganet_jax.data import ingest
from ganet_jax.data import labels as labels_lib
from ganet_jax.data import preprocess
from ganet_jax.data import record_event
from ganet_jax.data import rejections
from ganet_jax.data.preprocess import PreprocessConfig
from ganet_jax.errors import RecordRejected

P_ARRIVAL_COLUMNS = ('trace_p_arrival_sample', 'trace_P_arrival_sample')
ORIGIN_COLUMN = 'source_origin_time'
CHUNKS_FILE = 'chunks'
# Rows read_dataset reads at a time (as prepare's --partition_size): a partition's windows live until it is
# merged, so a smaller one holds less, and the next one's windows reuse its memory instead of new pages.
DEFAULT_ROWS_PER_PARTITION = 256
_BUCKET = re.compile(r'^(?P<bucket>[^$]+)\$(?P<index>.+)$')
Kept = TypeVar('Kept')  # what ``merge_rows`` keeps of each accepted record
_EPOCH = obspy.UTCDateTime(0)  # the time axis of an array's first sample; only differences count


def metadata_file(path: str | pathlib.Path, chunk: str) -> pathlib.Path:
  """``metadata{chunk}.csv`` of the set in ``path``."""
  return pathlib.Path(path) / f'metadata{chunk}.csv'


def waveforms_file(path: str | pathlib.Path, chunk: str) -> pathlib.Path:
  """``waveforms{chunk}.hdf5`` of the set in ``path``."""
  return pathlib.Path(path) / f'waveforms{chunk}.hdf5'


def available_chunks(path: str | pathlib.Path) -> list[str]:
  """The chunks of the set in ``path``: the ``chunks`` file's names, else '' for an
  unchunked set, else the names that both a metadata*.csv and a waveforms*.hdf5 carry.

  Raises:
    FileNotFoundError: naming the folder when it holds no chunk, or a chunk's missing file.
  """
  path = pathlib.Path(path)
  listed = path / CHUNKS_FILE
  if listed.is_file():
    chunks = [line.strip() for line in listed.read_text().splitlines() if line.strip()]
    if chunks:
      for chunk in chunks:
        _check_chunk_files(path, chunk, f'listed in {listed}')
      return chunks
  if metadata_file(path, '').is_file() or waveforms_file(path, '').is_file():
    _check_chunk_files(path, '', 'an unchunked set')
    return ['']
  metadata = {p.name[len('metadata'):-len('.csv')] for p in path.glob('metadata*.csv')}
  waveforms = {p.name[len('waveforms'):-len('.hdf5')] for p in path.glob('waveforms*.hdf5')}
  for chunk in sorted(metadata ^ waveforms):
    _check_chunk_files(path, chunk, 'found by file name')
  if not metadata:
    raise FileNotFoundError(f'{path}: no SeisBench dataset (neither metadata.csv + waveforms.hdf5 nor chunks '
                            f'metadata{{chunk}}.csv + waveforms{{chunk}}.hdf5)')
  return sorted(metadata)


def _check_chunk_files(path: pathlib.Path, chunk: str, why: str) -> None:
  for file in (metadata_file(path, chunk), waveforms_file(path, chunk)):
    if not file.is_file():
      raise FileNotFoundError(f'{file}: missing; chunk {chunk!r} ({why}) needs metadata{chunk}.csv and '
                              f'waveforms{chunk}.hdf5')


def select_chunks(path: str | pathlib.Path, chunks: Sequence[str] | None = None) -> list[str]:
  """The chunks to read: all of them (``chunks`` None or empty), else those named, in that order.

  Raises:
    ValueError: naming a chunk the set does not have (and those it has).
    FileNotFoundError: as ``available_chunks``.
  """
  available = available_chunks(path)
  if not chunks:
    return available
  unknown = [chunk for chunk in chunks if chunk not in available]
  if unknown:
    raise ValueError(f'--chunks={",".join(chunks)}: {pathlib.Path(path)} has no chunk '
                     f'{", ".join(map(repr, unknown))} (its chunks: {", ".join(map(repr, available))})')
  return list(dict.fromkeys(chunks))


@dataclasses.dataclass(frozen=True)
class ReadOptions:
  """How rows become records (picklable, so partitions can be read in other processes).

  Attributes:
    split: keep only rows whose ``split`` is this (others are not input, not rejected).
    event_type_map: extra event type decisions (``labels.label_for_event_type``).
    config: preprocessing parameters (the distance limit applies to
      ``path_ep_distance_km`` when present).
  """
  split: str | None = None
  event_type_map: Mapping[str, str] = dataclasses.field(default_factory=dict)
  config: PreprocessConfig = PreprocessConfig()

  def __post_init__(self):
    if self.config.noise_s > 0:
      raise ValueError(f'--noise_s={self.config.noise_s:g}: pre-event noise is kept for --format=obspy records '
                       'only (a SeisBench trace is cut around its P arrival)')


@dataclasses.dataclass(frozen=True)
class Partition:
  """Rows ``[start, stop)`` (0 is the first row after the header) of one chunk's metadata.

  ``offset`` is the byte offset of row ``start`` in the metadata file, so a reader
  seeks to it instead of parsing the rows before it; None reads from the top.
  """
  chunk: str
  start: int
  stop: int
  offset: int | None = None


class RowResult(NamedTuple):
  """One metadata row read: its place, its trace and either a record or a rejection line."""
  chunk: str
  row: int                               # row number in its chunk's metadata (0 after the header)
  trace: str                             # the trace's key (``trace_key``): equal keys are one trace
  file: str                              # the chunk's waveforms file
  record: ingest.PreparedRecord | None   # the accepted record, or None
  rejection: dict[str, str] | None       # {record, file, reason} of a rejected row, or None


def partitions(path: str | pathlib.Path, chunks: Sequence[str] | None = None,
               rows_per_partition: int = DEFAULT_ROWS_PER_PARTITION) -> list[Partition]:
  """The set's rows cut into partitions of at most ``rows_per_partition`` rows, in set order.

  Streams each chunk's metadata once to count its rows and note where each partition
  starts; nothing of the table is kept.

  Raises:
    ValueError: for an unknown chunk, a metadata file without ``trace_name``, or
      ``rows_per_partition`` < 1.
    FileNotFoundError: as ``available_chunks``.
  """
  if rows_per_partition < 1:
    raise ValueError(f'rows_per_partition={rows_per_partition}: must be >= 1')
  parts = []
  for chunk in select_chunks(path, chunks):
    file = metadata_file(path, chunk)
    with open(file, 'rb') as f:
      check_header(_header(f, file), file)
      n_rows = 0
      for offset in _row_offsets(f):
        if n_rows % rows_per_partition == 0:
          parts.append(Partition(chunk, n_rows, n_rows + rows_per_partition, offset))
        n_rows += 1
    if parts and parts[-1].chunk == chunk:
      parts[-1] = dataclasses.replace(parts[-1], stop=n_rows)
  return parts


def _header(f, file: pathlib.Path) -> list[str]:
  """The header of an open (binary) metadata file; leaves ``f`` at the first row."""
  line = f.readline()
  try:
    return next(csv.reader([line.decode('utf-8-sig')]), [])
  except (UnicodeDecodeError, csv.Error) as error:
    raise ValueError(f'{file}: not a readable CSV table ({error})') from None


def check_header(header: Sequence[str], file: pathlib.Path) -> None:
  """Refuses a metadata table that cannot locate any trace.

  Raises:
    ValueError: naming the file when it has no ``trace_name`` column.
  """
  if 'trace_name' not in header:
    raise ValueError(f'{file}: no trace_name column (columns: {", ".join(header) or "none"}); a SeisBench '
                     'metadata table names each trace\'s samples in waveforms.hdf5 under trace_name')


def _row_offsets(f) -> Iterator[int]:
  """The byte offset of each CSV row from ``f``'s position; a quoted field may span lines,
  so a row ends at the first line end where its count of '"' is even."""
  offset, quotes, start = f.tell(), 0, None
  for line in f:
    if start is None:
      start = offset
    quotes += line.count(b'"')
    offset += len(line)
    if quotes % 2 == 0:
      if line.strip():
        yield start
      start, quotes = None, 0


def _rows(path: pathlib.Path, partition: Partition) -> Iterator[tuple[int, dict[str, str]]]:
  """(row number, row) of the partition's rows, streamed from its metadata file."""
  file = metadata_file(path, partition.chunk)
  with open(file, 'rb') as raw:
    header = _header(raw, file)
    check_header(header, file)
    number = 0
    if partition.offset is not None:
      raw.seek(partition.offset)
      number = partition.start
    text = io.TextIOWrapper(raw, encoding='utf-8', newline='')
    try:
      for values in csv.reader(text):
        if number >= partition.stop:
          break
        if not values:
          continue
        if number >= partition.start:
          yield number, dict(zip(header, values))
        number += 1
    except (UnicodeDecodeError, csv.Error) as error:
      raise ValueError(f'{file}: not a readable CSV table at row {number} ({error})') from None


def read_partition(path: str | pathlib.Path, partition: Partition, options: ReadOptions = ReadOptions(),
                   progress: Callable[[RowResult], None] | None = None) -> list[RowResult]:
  """The rows of one partition, each prepared or rejected (duplicates are ``merge_rows``' concern).

  A pure function of its arguments: it opens the chunk's files itself, so it can run
  in a worker process.

  Args:
    path: the set's folder.
    partition: which chunk and rows (``partitions``).
    options: split, event type map and preprocessing.
    progress: called with each row's result as it is made.

  Returns:
    One ``RowResult`` per row of the partition in ``options.split`` (all rows without one), in order.

  Raises:
    FileNotFoundError, ValueError: naming a missing or unreadable metadata or HDF5
      file of the chunk, or a ``data_format`` that is not a known layout (bad rows
      are rejections, not errors).
  """
  path = pathlib.Path(path)
  file = waveforms_file(path, partition.chunk)
  for needed in (metadata_file(path, partition.chunk), file):
    if not needed.is_file():
      raise FileNotFoundError(f'{needed}: missing; a SeisBench dataset has metadata{partition.chunk}.csv and '
                              f'waveforms{partition.chunk}.hdf5')
  try:
    hdf5 = h5py.File(file, 'r')
  except OSError as error:
    raise ValueError(f'{file}: not an HDF5 file h5py can open ({error})') from None
  results = []
  with hdf5:
    layout = ChunkLayout.of(hdf5, file)
    for number, row in _rows(path, partition):
      if options.split is not None and row.get('split') != options.split:
        continue
      name = row.get('trace_name', '')
      record, rejection = None, None
      try:
        record = _prepare_row(layout, row, partition.chunk, options)
      except Exception as error:  # one bad trace is a rejection line, not a crash
        rejection = {'record': name, 'file': str(file), 'reason': rejections.rejection_reason(error)}
      results.append(RowResult(partition.chunk, number, trace_key(partition.chunk, name), str(file), record,
                               rejection))
      if progress:
        progress(results[-1])
  return results


def merge_rows(results: Iterable[RowResult], keep: Callable[[ingest.PreparedRecord], Kept] = lambda record: record,
               seen: dict[str, tuple[str, int]] | None = None) -> tuple[list[Kept], list[dict[str, str]]]:
  """Accepted records and rejection lines of rows given in set order; a trace met again is rejected.

  Args:
    results: the rows of the partitions, in set order (``read_partition``).
    keep: what to keep of an accepted record, called as soon as it is merged (e.g.
      to move its window to disk); default: the record.
    seen: the traces of earlier rows, {trace key: (chunk, row)}, updated with these
      rows' (to merge a set a partition at a time); None: none.

  Returns:
    ([keep(record) of each accepted record], rejection lines {record, file, reason}), each in the order given.
  """
  prepared, rejected, first = [], [], {} if seen is None else seen
  for result in results:
    chunk, row = first.setdefault(result.trace, (result.chunk, result.row))
    if (chunk, row) != (result.chunk, result.row):
      name = result.record.extra['file'] if result.record else result.rejection['record']
      rejected.append({'record': name, 'file': result.file,
                       'reason': f'duplicate: trace {result.trace} is also metadata{chunk}.csv row {row}'})
    elif result.record is not None:
      prepared.append(keep(result.record))
    else:
      rejected.append(result.rejection)
  return prepared, rejected


def read_dataset(path: str | pathlib.Path, *, split: str | None = None,
                 event_type_map: Mapping[str, str] | None = None,
                 config: PreprocessConfig = PreprocessConfig(),
                 progress: Callable[[int, int, int], None] | None = None,
                 chunks: Sequence[str] | None = None,
                 rows_per_partition: int = DEFAULT_ROWS_PER_PARTITION,
                 spool_path: str | pathlib.Path | None = None):
  """Windows of a SeisBench-format dataset folder, chunked or not.

  Args:
    path: the set's folder (``metadata.csv`` + ``waveforms.hdf5``, or chunks).
    split: keep only rows whose ``split`` is this (others are not input, not rejected).
    event_type_map: extra event type decisions (``labels.label_for_event_type``).
    config: preprocessing parameters (the distance limit applies to
      ``path_ep_distance_km`` when present).
    progress: called as ``progress(done, accepted, rejected)`` after each row.
    chunks: read only these chunks (None: all).
    rows_per_partition: rows read at a time (memory holds one partition's rows).
    spool_path: when given, windows are appended to this raw float32 file as they are
      made and the result's waveforms are a read-only memmap of it (memory stays
      bounded however large the set); else they are gathered in memory.

  Returns:
    (RecordSet or None, rejection lines {record, file, reason}); the split is
    kept in ``extra['split']`` and the chunk in ``extra['chunk']``.

  Raises:
    FileNotFoundError: naming a missing metadata or waveforms file (or chunk).
    ValueError: naming an unknown chunk, an unreadable metadata table, one without
      ``trace_name``, or a corrupt waveforms file.
  """
  path = pathlib.Path(path)
  options = ReadOptions(split=split, event_type_map=dict(event_type_map or {}), config=config)
  parts = partitions(path, chunks, rows_per_partition)
  counts = {'done': 0, 'accepted': 0, 'rejected': 0}

  def count(result: RowResult) -> None:
    counts['done'] += 1
    counts['accepted' if result.record is not None else 'rejected'] += 1
    progress(counts['done'], counts['accepted'], counts['rejected'])

  def rows() -> Iterator[RowResult]:
    for partition in parts:
      yield from read_partition(path, partition, options, count if progress else None)

  # Each window goes to its place as it is made: stacking them at the end would copy every one.
  shape = (config.window_samples, len(conventions.COMPONENT_ORDER))
  if spool_path is not None:
    with open(spool_path, 'wb') as spool:
      def keep(record: ingest.PreparedRecord) -> ingest.PreparedRecord:
        spool.write(np.ascontiguousarray(record.window, np.float32).tobytes())
        return dataclasses.replace(record, window=None)
      prepared, rejected = merge_rows(rows(), keep)
    waveforms = np.memmap(spool_path, np.float32, 'r', shape=(len(prepared), *shape)) if prepared else None
  else:
    gathered = np.empty((sum(p.stop - p.start for p in parts), *shape), np.float32)  # pages used only when written
    places = itertools.count()
    def keep(record: ingest.PreparedRecord) -> ingest.PreparedRecord:
      gathered[next(places)] = record.window
      return dataclasses.replace(record, window=None)
    prepared, rejected = merge_rows(rows(), keep)
    waveforms = gathered[:len(prepared)]
  return ingest.to_record_set(prepared, waveforms), rejected


def parse_trace_name(trace_name: str) -> tuple[str, tuple]:
  """'bucket3$0,:3,:12000' -> ('bucket3', (0, slice(None, 3), slice(None, 12000))); 'name' -> ('name', ()).

  Spaces in the index are ignored; a slice may have a step ('::2').

  Raises:
    RecordRejected: naming the trace when its index is not integers and slices.
  """
  match = _BUCKET.match(trace_name)
  if not match:
    return trace_name, ()
  index = []
  try:
    for part in match['index'].replace(' ', '').split(','):
      bounds = [int(p) if p else None for p in part.split(':')]
      if len(bounds) == 1 and bounds[0] is not None:
        index.append(bounds[0])
      elif 2 <= len(bounds) <= 3:
        index.append(slice(*bounds))
      else:
        raise ValueError(part)
  except ValueError:
    raise RecordRejected(f'trace_name {trace_name!r}: the part after $ is not an index like 0,:3,:15001') from None
  return match['bucket'], tuple(index)


def trace_key(chunk: str, trace_name: str) -> str:
  """The trace a name addresses in a chunk, spelled one way: two names of one key are one trace."""
  bucket, _, index = trace_name.partition('$')
  name = f'{bucket}${index.replace(" ", "")}' if index else bucket
  return f'{chunk}/{name}' if chunk else name


def data_format(hdf5: h5py.File, name: str, default: str) -> str:
  """A ``data_format`` entry (dataset or attribute, SeisBench writes datasets) as text."""
  group = hdf5.get('data_format')
  for source in (group if group is not None else {}, group.attrs if group is not None else {}, hdf5.attrs):
    if name in source:
      value = source[name]
      value = value[()] if isinstance(value, h5py.Dataset) else value
      return value.decode() if isinstance(value, bytes) else str(value)
  return default


@dataclasses.dataclass
class ChunkLayout:
  """A chunk's open waveforms file and what its ``data_format`` declares."""
  hdf5: h5py.File
  file: pathlib.Path
  component_order: str
  channels_first: bool
  sampling_rate: float | None
  datasets: dict[str, h5py.Dataset | None] = dataclasses.field(default_factory=dict)

  @classmethod
  def of(cls, hdf5: h5py.File, file: pathlib.Path) -> 'ChunkLayout':
    """The layout ``data_format`` declares (SeisBench's defaults where it is silent).

    Raises:
      ValueError: naming the file for a dimension order other than CW/WC or a
        sampling rate that is not a positive number.
    """
    dimensions = data_format(hdf5, 'dimension_order', 'CW')
    if dimensions.upper().replace('N', '') not in ('CW', 'WC'):
      raise ValueError(f'{file}: data_format/dimension_order {dimensions!r} is neither CW nor WC')
    rate_text = data_format(hdf5, 'sampling_rate', '')
    rate = record_event.parse_float(rate_text)
    if rate_text and (rate is None or rate <= 0):
      raise ValueError(f'{file}: data_format/sampling_rate {rate_text!r} is not a rate in Hz')
    return cls(hdf5, file, data_format(hdf5, 'component_order', 'ZNE'),  # SeisBench's own default, not ours
               dimensions.upper().endswith('CW'), rate)

  def samples(self, trace_name: str) -> np.ndarray:
    """The trace's samples as stored (floats in their own type, others as float64).

    Raises:
      RecordRejected: when the trace is not in the file or its index does not fit.
    """
    bucket, index = parse_trace_name(trace_name)
    if bucket not in self.datasets:
      group = self.hdf5.get('data')
      found = group.get(bucket) if isinstance(group, h5py.Group) else None
      self.datasets[bucket] = found if isinstance(found, h5py.Dataset) else None
    dataset = self.datasets[bucket]
    if dataset is None:
      raise RecordRejected(f'trace {bucket!r} not in {self.file.name}/data')
    try:
      samples = np.asarray(dataset[index] if index else dataset[()])
      return samples if samples.dtype.kind == 'f' else np.asarray(samples, np.float64)
    except (IndexError, ValueError, TypeError) as error:
      raise RecordRejected(f'trace {trace_name!r}: index outside {bucket} of shape {dataset.shape} '
                           f'({error})') from None


def _label(row: Mapping[str, str], type_map: Mapping[str, str]) -> tuple[int, str]:
  event_type = row.get('source_type', '')
  if not event_type and row.get('trace_category'):
    event_type = row['trace_category'].split('_')[0]
  if not event_type:
    raise RecordRejected('no source_type or trace_category')
  return labels_lib.label_for_event_type(event_type, type_map), event_type


def _p_sample(row: Mapping[str, str]) -> float:
  for column in P_ARRIVAL_COLUMNS:
    value = record_event.parse_float(row.get(column, ''))
    if value is not None:
      return value
  raise RecordRejected(f'no P arrival ({" / ".join(P_ARRIVAL_COLUMNS)})')


def _sampling_rate(row: Mapping[str, str], declared: float | None) -> float:
  """The row's rate: its trace_sampling_rate_hz, else 1 / trace_dt_s, else the set's declared rate."""
  rate = record_event.parse_float(row.get('trace_sampling_rate_hz', ''))
  if rate is None:
    dt = record_event.parse_float(row.get('trace_dt_s', ''))
    rate = 1.0 / dt if dt else declared
  if rate is None or rate <= 0:
    raise RecordRejected('no sampling rate: no trace_sampling_rate_hz or trace_dt_s, and no '
                         'data_format/sampling_rate in the waveforms file')
  return rate


def _origin(row: Mapping[str, str]) -> obspy.UTCDateTime:
  text = row.get(ORIGIN_COLUMN, '').strip()
  if not text:
    raise RecordRejected(f'no {ORIGIN_COLUMN}: the event time orders the chronological split and groups '
                         'the event, and is not made up')
  try:
    return record_event.utc_time(text)
  except Exception:  # ObsPy raises several types for unparsable times
    raise RecordRejected(f'{ORIGIN_COLUMN} {text!r} is not a time') from None


def window_from_array(data: np.ndarray, order: str, rate: float, p_sample: float,
                      config: PreprocessConfig) -> tuple[np.ndarray, str, float]:
  """(window_samples, 3) ZNE window, components present, padded seconds for a (C, W) trace.

  The steps of ``ingest.assemble_window`` without pre-event noise (SeisBench sets keep
  none): each component resampled and band-passed over the whole trace, then all cut
  from the P sample, detrended and standardised together (``preprocess.window_from_rows``).
  A trace at the window's rate without a band needs neither, so only its window's
  samples are cut and converted to float64. The components of a trace share its rate
  and length, so the first one cut gives every rejection the others would.

  Raises:
    RecordRejected: bad channels, non-finite samples, low rate, short record.
  """
  if data.ndim != 2 or data.shape[0] != len(order):
    raise RecordRejected(f'waveform shape {data.shape} does not match component order {order!r}')
  if not np.isfinite(data).all():
    raise RecordRejected(f'{int(np.sum(~np.isfinite(data)))} NaN/inf samples')
  onset = _EPOCH + p_sample / rate
  channels = {}
  for index, letter in enumerate(order):
    slot = preprocess.component_slot(letter)
    if slot is not None:
      channels[slot] = index  # a later component of the same slot replaces an earlier one
  if not channels:
    raise RecordRejected(f'no usable channel in component order {order!r}')
  slots = sorted(channels)
  if config.bandpass is None and preprocess.at_output_rate(rate, config):
    first, stop = preprocess.window_bounds(data.shape[1], _EPOCH, config.sampling_rate, onset, config)
    rows = np.empty((len(slots), stop - first))
    for row, slot in zip(rows, slots):
      row[:] = data[channels[slot], first:stop]
  else:
    cut = []
    for slot in slots:
      samples = preprocess.resample_samples(data[channels[slot]], rate, config.sampling_rate, config.min_sampling_rate)
      samples = preprocess.bandpass_record(samples, config.sampling_rate, config)
      cut.append(preprocess.cut_window(samples, _EPOCH, config.sampling_rate, onset, config))
    rows = np.stack(cut)
  window, flat = preprocess.window_from_rows(rows, slots, config)
  present = ''.join(conventions.COMPONENT_ORDER[slot] for slot, dead in zip(slots, flat) if not dead)
  if not present:
    raise RecordRejected(f'no usable channel in component order {order!r}')
  return window, present, (config.window_samples - rows.shape[1]) / config.sampling_rate


def _prepare_row(layout: ChunkLayout, row: Mapping[str, str], chunk: str,
                 options: ReadOptions) -> ingest.PreparedRecord:
  config = options.config
  name = row.get('trace_name', '')
  if not name:
    raise RecordRejected('no trace_name')
  label, event_type = _label(row, options.event_type_map)
  distance = record_event.parse_float(row.get('path_ep_distance_km', ''))
  preprocess.check_distance(distance, config.max_distance_km)
  origin = _origin(row)
  data = layout.samples(name)
  data = data if layout.channels_first else data.T
  order = row.get('trace_component_order') or layout.component_order
  rate = _sampling_rate(row, layout.sampling_rate)
  p_sample = _p_sample(row)
  window, present, padded = window_from_array(data, order, rate, p_sample, config)
  record_id = trace_key(chunk, name)
  event_id = row.get('source_id') or row[ORIGIN_COLUMN] or record_id
  extra = {column: '' for column in ingest.MANIFEST_COLUMNS}
  extra.update({'file': name, 'network': row.get('station_network_code', ''),
                'station': row.get('station_code', ''), 'location': row.get('station_location_code', ''),
                'channels': order, 'p_onset': f'sample {p_sample:g}', 'p_method': 'seisbench',
                'distance_km': '' if distance is None else f'{distance:.2f}', 'channels_present': present,
                'sampling_rate_in': f'{rate:g}', 'padded_s': f'{padded:.2f}',
                'bandpass': config.bandpass_label, 'split': row.get('split', ''), 'chunk': chunk})
  return ingest.PreparedRecord(window=window, label=label, event_id=event_id, event_type=event_type,
                               origin_time=origin, record_id=record_id, extra=extra)
