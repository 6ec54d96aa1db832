"""Real files to the paper's windows: read with ObsPy, label, pick, preprocess, report.

``prepare_records`` turns input records (``records_table``) into a ``RecordSet`` of
(window_samples, 3) windows plus one rejection line per input record that was not
accepted, so accepted + rejected = input. One bad file never stops a run: any error
while reading or processing a record becomes that record's rejection reason.

Declared policies (see ``preprocess`` for the signal steps):
  - labels: the table's/catalog's event type (``labels``); a bare 0/1 label column
    is used when there is no type; a type that contradicts the label is rejected;
  - several sensors (location codes 00/10, band codes BH/HH, ...): one sensor is
    chosen as a whole, live and with the most components, and the choice written
    in ``notes``; two such sensors are refused, naming them (``traces``);
  - masked samples (an ObsPy-merged stream's gaps) are gaps, under the gap policy;
  - a glitch (a few samples far beyond everything around them) rejects the
    record, naming the trace and its time (``glitches``);
  - a component with NaN/inf samples, a too-low rate or segments at different
    rates is dropped (zero-filled, reason in ``notes``); the record is rejected
    with those reasons when no component is left;
  - origin time, first found of: table column, SAC ``o`` header, catalog; without
    any, a given P time (table column, ``prepare_stream``'s ``p_onset``) stands in
    for it (event time, event id unless given, the noise's end), noted in ``notes``;
    with neither the record is rejected;
  - P onset, first found of: table column ('table'), catalog pick ('catalog'),
    SAC header a/t0..t9 ('sac:<name>'), STA/LTA ('sta_lta', its peak ratio in
    ``p_quality``); without any, the fallback is the origin time plus the iasp91 P
    travel time when the distance is known ('fallback:travel_time') or the origin
    time ('fallback:origin'), both flagged in ``p_method`` with the picker's reason
    (``p_fallback='none'`` rejects instead);
  - channel dropout: missing or flat components are zero-filled; ``channels_present``
    lists the components that carry signal;
  - pre-event noise (``PreprocessConfig.noise_s > 0``): too little of it rejects the
    record or, with ``noise_fallback='shorter'``, keeps what there is; the manifest's
    ``noise_s`` column gives the seconds kept (``noise``).
  - signal faults (clipped or full-scale integer traces, overlapping segments that
    disagree, a P onset before the origin, a negative distance) are written in
    ``notes`` (``record_checks``), the record kept.

Each step lives in a module named for it: reading the files (``reading``), the
traces that form the components (``traces``), origin time, label and distance
(``record_event``), the P onset (``onset``), the window (``window``), duplicate
checks (``duplicates``) and rejection reasons (``rejections``); the settings a
prepared set records are ``prepare_settings``.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Callable, Iterable, Mapping, Sequence, TypeVar

import numpy as np
import obspy

from ganet_jax import conventions
from ganet_jax.data import catalog as catalog_lib
from ganet_jax.data import duplicates as duplicates_lib
from ganet_jax.data import grouping
from ganet_jax.data import onset as onset_lib
from ganet_jax.data import picking
from ganet_jax.data import preprocess
from ganet_jax.data import reading
from ganet_jax.data import record_checks
from ganet_jax.data import record_event
from ganet_jax.data import rejections
from ganet_jax.data import traces as traces_lib
from ganet_jax.data import window as window_lib
from ganet_jax.data.preprocess import PreprocessConfig
from ganet_jax.data.records import RecordSet
from ganet_jax.data.records_table import InputRecord
from ganet_jax.errors import RecordRejected

MANIFEST_COLUMNS = ('source', 'file', 'network', 'station', 'location', 'channels', 'p_onset', 'p_method',
                    'p_quality', 'distance_km', 'magnitude', 'channels_present', 'sampling_rate_in', 'padded_s',
                    'bandpass', 'notes')
Kept = TypeVar('Kept')  # what ``prepare_or_reject`` keeps of each accepted record


@dataclasses.dataclass(frozen=True)
class PrepareOptions:
  """Everything besides the signal parameters that decides how records are prepared."""
  preprocess: PreprocessConfig = PreprocessConfig()
  picker: picking.PickerConfig = picking.PickerConfig()
  event_type_map: Mapping[str, str] = dataclasses.field(default_factory=dict)
  p_fallback: str = 'travel_time'  # or 'none'
  catalog: Sequence[catalog_lib.CatalogEvent] | None = None
  inventory: obspy.Inventory | None = None
  unlabeled: bool = False  # records of unknown type: label UNLABELED, for self-supervised pretraining


@dataclasses.dataclass(frozen=True)
class PreparedRecord:
  """One accepted record: its window, labels, manifest columns (``extra``) and pre-event noise."""
  window: np.ndarray | None  # (window_samples, 3) float32; None once spooled to disk
  label: int
  event_id: str
  event_type: str
  origin_time: obspy.UTCDateTime
  record_id: str
  extra: dict[str, str]
  noise: np.ndarray | None = None  # (noise_samples, 3) float32 when PreprocessConfig.noise_s > 0


def prepare_record(record: InputRecord, options: PrepareOptions, *,
                   stream: obspy.Stream | None = None) -> PreparedRecord:
  """One input record to its window and manifest row.

  Args:
    record: the record (its files are read unless ``stream`` is given).
    options: preprocessing, picking and labelling options.
    stream: the record's traces already in memory (``prepare_stream``).

  Raises:
    RecordRejected: with the first reason the record cannot be used, followed by
      the notes gathered until then in brackets (e.g. a file read as truncated).
  """
  notes: list[str] = []
  try:
    return _prepare_record(record, options, notes, stream)
  except RecordRejected as error:
    if notes:
      raise RecordRejected(f'{error} [{"; ".join(notes)}]') from None
    raise


def prepare_stream(stream: obspy.Stream, options: PrepareOptions, *, p_onset: obspy.UTCDateTime | None = None,
                   origin_time: obspy.UTCDateTime | None = None, event_id: str = '',
                   event_type: str = '', label: str = '', **columns: str) -> PreparedRecord:
  """One station's in-memory ObsPy Stream to its window, as ``prepare_record`` does a file.

  Args:
    stream: the station's traces (one SEED id per component).
    options: preprocessing, picking and labelling options.
    p_onset: the P onset, if known; else picked as for files (SAC headers, STA/LTA).
    origin_time: the event's origin; else the SAC ``o`` header.
    event_id, event_type, label: as the records-table columns of that name.
    **columns: further records-table fields (e.g. ``distance_km='12.5'``).

  Raises:
    RecordRejected: with the reason the stream cannot give a window.
  """
  row = {'p_time': str(p_onset) if p_onset is not None else '',
         'origin_time': str(origin_time) if origin_time is not None else '',
         'event_id': event_id, 'event_type': event_type, 'label': label, **columns}
  return prepare_record(InputRecord(files=(), rows=(row,), source='stream'), options, stream=stream)


def _prepare_record(record: InputRecord, options: PrepareOptions, notes: list[str],
                    stream: obspy.Stream | None) -> PreparedRecord:
  config = options.preprocess
  if stream is None:
    stream, read_notes = reading.read_streams(record)
    notes += read_notes
  elif not any(trace.stats.npts for trace in stream):
    raise RecordRejected('the stream holds no samples')
  else:
    stream = grouping.select_traces(stream, record.rows[0], 'the stream')
  chosen, choice_notes = traces_lib.choose_traces(stream, config.min_sampling_rate)
  notes += choice_notes + record_checks.signal_notes(chosen)
  traces_lib.check_glitches(chosen)  # before picking: one bad sample must not become the onset
  first_trace = next(iter(chosen.values()))[0]
  origin = record_event.field_time(record.field('origin_time'), 'origin time') or picking.sac_origin(first_trace)
  event = None
  if options.catalog is not None:
    span = (min(t.stats.starttime for t in stream), max(t.stats.endtime for t in stream))
    event = catalog_lib.find_event(list(options.catalog), record.field('event_id'), origin, span)
    origin = origin or event.origin_time
  if origin is None:
    origin = record_event.origin_from_p_time(record, notes)
  if options.unlabeled:
    label, event_type = conventions.UNLABELED, conventions.UNLABELED_TYPE
  else:
    label, event_type = record_event.record_label(record, event, options.event_type_map)
  event_id = record.field('event_id') or (event.event_id if event else '') or str(origin)
  distance_km = record_event.record_distance_km(record, chosen, origin, event, options.inventory)
  preprocess.check_distance(distance_km, config.max_distance_km)
  resampled, gaps, failures = {}, {}, []
  for slot, traces in chosen.items():
    try:
      resampled[slot], gaps[slot] = traces_lib.merged_at_rate(traces, config)
    except RecordRejected as error:
      failures.append(str(error))
  if not resampled:
    raise RecordRejected(' | '.join(failures))
  notes += [f'component dropped: {reason}' for reason in failures]
  flat = {slot for slot, trace in resampled.items() if preprocess.standardise(trace.data)[1]}
  if len(flat) == len(resampled):
    raise RecordRejected('all channels flat (zero variance)')
  pick_slot = min(set(resampled) - flat)  # Z when it carries signal
  onset, method, quality = onset_lib.p_onset(record, chosen, resampled[pick_slot], origin, distance_km, event,
                                             config=config, picker=options.picker, p_fallback=options.p_fallback)
  notes += record_checks.timing_notes(onset, origin, distance_km)
  resampled, short = preprocess.drop_short_components(resampled, onset, config, keep=pick_slot)
  notes += [f'component dropped: {reason}' for reason in short]
  gaps = [gap for slot in resampled for gap in gaps[slot]]
  start, arrays = window_lib.common_span(resampled)
  assembled = window_lib.assemble_window(arrays, start, onset, config, flat=flat, origin=origin, gaps=gaps)
  preprocess.check_gaps(gaps, onset, onset + assembled.recorded_samples / config.sampling_rate, config.max_gap_s)
  if assembled.flat:
    notes.append('flat ' + ''.join(conventions.COMPONENT_ORDER[s] for s in sorted(assembled.flat)))
  stats = first_trace.stats
  return PreparedRecord(
      window=assembled.window, label=label, event_id=event_id, event_type=event_type, origin_time=origin,
      record_id=f'{event_id}.{stats.network}.{stats.station}.{stats.location}.{stats.channel[:-1]}',
      extra={'source': record.source, 'file': record.file_names, 'network': stats.network, 'station': stats.station,
             'location': stats.location,
             'channels': ';'.join(chosen[s][0].stats.channel for s in sorted(resampled)),
             'p_onset': str(onset), 'p_method': method, 'p_quality': quality,
             'distance_km': '' if distance_km is None else f'{distance_km:.2f}',
             'magnitude': record.field('magnitude'),
             'channels_present': assembled.present,
             'sampling_rate_in': ';'.join(f'{chosen[s][0].stats.sampling_rate:g}' for s in sorted(resampled)),
             'padded_s': f'{assembled.padded_s(config):.2f}',
             'bandpass': config.bandpass_label, 'notes': '; '.join(notes),
             **({'noise_s': f'{assembled.noise_kept_s:.2f}'} if assembled.noise is not None else {})},
      noise=assembled.noise)


def prepare_records(records: Iterable[InputRecord], options: PrepareOptions,
                    progress: Callable[[int, int, int], None] | None = None,
                    spool_path: str | pathlib.Path | None = None,
                    prepare_all: Callable[..., tuple[list, list[dict[str, str]]]] | None = None,
                    ) -> tuple[RecordSet | None, list[dict[str, str]]]:
  """Prepare every input record; rejected ones get a line with their reason.

  Args:
    records: the input records.
    options: preprocessing, picking and labelling options.
    progress: called as ``progress(done, accepted, rejected)`` after each record.
    spool_path: when given, windows are appended to this raw float32 file as they
      are made and the result's waveforms are a read-only memmap of it, so memory
      stays bounded however many records are prepared.
    prepare_all: what prepares them, called as ``prepare_or_reject`` is (its default):
      e.g. one that adds its own refusals. Its results must not depend on how it runs.

  Returns:
    (accepted records or None when none was accepted, rejection lines
    {source, record, file, reason}).
  """
  with WindowSpool(spool_path, options.preprocess) as spool:
    prepared, rejected = (prepare_all or prepare_or_reject)(
        records, options, keep=lambda record, result: spool.keep(result), progress=progress)
  return to_record_set(prepared, spool.waveforms(len(prepared))), rejected


class WindowSpool:
  """Accepted records' windows appended to a raw float32 file as they come, so memory stays bounded.

  Used as a context manager (the file is closed on the way out); without a path it
  keeps the windows in the records.
  """

  def __init__(self, path: str | pathlib.Path | None, config: PreprocessConfig):
    self.path, self._config = path, config
    self._file = open(path, 'wb') if path else None

  def __enter__(self) -> 'WindowSpool':
    return self

  def __exit__(self, *exc) -> None:
    if self._file:
      self._file.close()

  def keep(self, prepared: PreparedRecord) -> PreparedRecord:
    """The record with its window moved to the file (unchanged without a file)."""
    if not self._file:
      return prepared
    self._file.write(np.ascontiguousarray(prepared.window, np.float32).tobytes())
    return dataclasses.replace(prepared, window=None)

  def waveforms(self, count: int) -> np.ndarray | None:
    """A read-only memmap of the ``count`` windows written (None without a file or windows)."""
    if not self.path or not count:
      return None
    shape = (count, self._config.window_samples, len(conventions.COMPONENT_ORDER))
    return np.memmap(self.path, np.float32, 'r', shape=shape)


# One record's outcome: its prepared record, or the reason it was rejected.
Outcome = PreparedRecord | str


def prepare_or_reject(records: Iterable[InputRecord], options: PrepareOptions, *,
                      keep: Callable[[InputRecord, PreparedRecord], Kept] = lambda record, prepared: prepared,
                      progress: Callable[[int, int, int], None] | None = None,
                      prepare: Callable[[InputRecord, PrepareOptions], PreparedRecord] | None = None,
                      ) -> tuple[list[Kept], list[dict[str, str]]]:
  """Prepare each input record once; every record is either kept or listed with its reason.

  A record listed twice (same files, or same event, station and channel) is
  prepared once and the repeat rejected as a duplicate, so no record (or event)
  counts twice downstream. Any error while preparing a record becomes its reason.

  Args:
    records: the input records.
    options: preprocessing, picking and labelling options (``prepare_record``).
    keep: what to keep of an accepted record, called as ``keep(record, prepared)``
      as soon as it is prepared (e.g. to move its window to disk); default: the
      prepared record. An error it raises is not a rejection: it stops the loop.
    progress: called as ``progress(done, accepted, rejected)`` after each record.
    prepare: what prepares one record, called as ``prepare(record, options)``
      (default ``prepare_record``; a classifier adds its own refusals to it).

  Returns:
    ([keep(record, prepared) of each accepted record], rejection lines
    {source, record, file, reason}), both in input order.
  """
  duplicates = duplicates_lib.DuplicateCheck()

  def outcomes():
    for record in records:
      repeated = duplicates.file_duplicate(record)
      yield record, repeated or prepare_outcome(record, options, prepare)
  return merge_outcomes(outcomes(), duplicates, keep=keep, progress=progress)


def prepare_outcome(record: InputRecord, options: PrepareOptions,
                    prepare: Callable[[InputRecord, PrepareOptions], PreparedRecord] | None = None) -> Outcome:
  """The record prepared (``prepare``, default ``prepare_record``), or the reason any error gave."""
  try:
    return (prepare or prepare_record)(record, options)
  except Exception as error:  # one bad file is a listed reason, never a crash
    return rejections.rejection_reason(error)


def merge_outcomes(outcomes: Iterable[tuple[InputRecord, Outcome]], duplicates: duplicates_lib.DuplicateCheck, *,
                   keep: Callable[[InputRecord, PreparedRecord], Kept] = lambda record, prepared: prepared,
                   progress: Callable[[int, int, int], None] | None = None,
                   ) -> tuple[list[Kept], list[dict[str, str]]]:
  """Records' outcomes, in input order, as kept records and rejection lines (``prepare_or_reject``'s result).

  An accepted record whose event, station and channel an earlier one had is
  rejected here, so the result does not depend on where or in what order the
  outcomes were made, only on the order they are given in.

  Args:
    outcomes: (input record, its ``Outcome``) in input order.
    duplicates: the check that already saw every earlier record's files.
    keep, progress: as ``prepare_or_reject``'s.
  """
  kept, rejected = [], []
  for done, (record, outcome) in enumerate(outcomes, 1):
    if not isinstance(outcome, str):
      try:
        duplicates.check_record_id(record, outcome.record_id)
      except RecordRejected as error:
        outcome = str(error)
    if isinstance(outcome, str):
      rejected.append(rejections.rejection_line(record, outcome))
    else:
      kept.append(keep(record, outcome))
    if progress:
      progress(done, len(kept), len(rejected))
  return kept, rejected


def to_record_set(prepared: Sequence[PreparedRecord], waveforms: np.ndarray | None = None) -> RecordSet | None:
  """A RecordSet of the prepared records (None for an empty list).

  Args:
    prepared: the records, in order.
    waveforms: their windows when already stacked (e.g. spooled to disk);
      else the records' own windows are stacked.
  """
  if not prepared:
    return None
  return RecordSet(
      waveforms=np.stack([p.window for p in prepared]) if waveforms is None else waveforms,
      labels=np.array([p.label for p in prepared], np.int32),
      event_ids=np.array([p.event_id for p in prepared]),
      origin_times=np.array([np.datetime64(p.origin_time.datetime, 'ms') for p in prepared]),
      event_types=np.array([p.event_type for p in prepared]),
      record_ids=np.array([p.record_id for p in prepared]),
      extra={k: np.array([p.extra[k] for p in prepared]) for k in prepared[0].extra},
      noise=np.stack([p.noise for p in prepared]) if prepared[0].noise is not None else None)
