"""Real files to the paper's windows: read with ObsPy, label, pick, preprocess, report.

``prepare_records`` turns input records (``records_table``) into a ``RecordSet`` of
(window_samples, 3) windows plus one rejection line per input record that was not
accepted, so accepted + rejected = input. One bad file never stops a run: any error
while reading or processing a record becomes that record's rejection reason.

Declared policies (see ``preprocess`` for the signal steps):
  - labels: the table's/catalog's event type (``labels``); a bare 0/1 label column
    is used when there is no type; a type that contradicts the label is rejected;
  - several traces for one component (location codes 00/10, ...): the highest
    rate, then the longest, is kept and the choice written in ``notes``;
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
"""

from __future__ import annotations

import dataclasses
import json
import math
import pathlib
import re
import warnings
from typing import Callable, Iterable, Mapping, NamedTuple, Sequence, TypeVar

import numpy as np
import obspy

from ganet_jax import conventions
from ganet_jax.data import catalog as catalog_lib
from ganet_jax.data import grouping
from ganet_jax.data import labels as labels_lib
from ganet_jax.data import noise as noise_lib
from ganet_jax.data import picking
from ganet_jax.data import preprocess
from ganet_jax.data import record_checks
from ganet_jax.data.preprocess import PreprocessConfig
from ganet_jax.data.records import RecordSet
from ganet_jax.data.records_table import InputRecord
from ganet_jax.errors import RecordRejected

# PreprocessConfig fields that shape a window (the others select records).
SIGNAL_SETTINGS = ('sampling_rate', 'detrend_degree', 'bandpass', 'noise_s', 'noise_gap_s', 'normalization')
# Signal settings a preprocess.json written before they existed lacks: it was made with their defaults.
LATER_SIGNAL_SETTINGS = ('noise_s', 'noise_gap_s', 'normalization')
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


def settings(options: PrepareOptions) -> dict[str, object]:
  """The options that shape a window, JSON-ready: a prepared set's preprocess.json.

  ``options_from_settings`` reads them back, so records prepared later (e.g. by a
  classifier) go through the same signal chain as the training records.
  """
  return json.loads(json.dumps({'preprocess': dataclasses.asdict(options.preprocess),
                                'picker': dataclasses.asdict(options.picker), 'p_fallback': options.p_fallback}))


def options_from_settings(saved: Mapping[str, object] | None, options: PrepareOptions) -> PrepareOptions:
  """``options`` with the signal chain (rate, detrend, band-pass, picker) of ``saved`` settings.

  The record-selection limits of ``options`` (distance, gaps, padding, fallback) stay
  the caller's: they decide which records are classified, not what a window looks like.

  Raises:
    ValueError: when ``saved`` holds settings this version cannot rebuild.
  """
  if not saved:
    return options
  try:
    signal = signal_settings(saved['preprocess'])
    band = signal['bandpass']
    signal['bandpass'] = tuple(band) if band else None
    picker = picking.PickerConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in saved['picker'].items()})
    config = dataclasses.replace(options.preprocess, **signal)
  except (AttributeError, KeyError, TypeError, ValueError) as error:
    raise ValueError(f'unusable preprocessing settings {saved}: {type(error).__name__}: {error}') from None
  return dataclasses.replace(options, preprocess=config, picker=picker)


def signal_settings(saved: Mapping[str, object]) -> dict[str, object]:
  """The ``SIGNAL_SETTINGS`` of saved preprocess settings (None where absent), those added later
  (``LATER_SIGNAL_SETTINGS``) at the defaults that made the windows before they existed."""
  defaults = PreprocessConfig()
  return {name: saved.get(name, getattr(defaults, name) if name in LATER_SIGNAL_SETTINGS else None)
          for name in SIGNAL_SETTINGS}


def parse_float(text: str) -> float | None:
  """A finite float from table text, or None for blank/unparsable/non-finite."""
  try:
    value = float(text)
  except (TypeError, ValueError):
    return None
  return value if math.isfinite(value) else None


def _time(text: str, what: str) -> obspy.UTCDateTime | None:
  if not text:
    return None
  try:
    return obspy.UTCDateTime(text)
  except Exception:  # ObsPy raises several types for unparsable times.
    raise RecordRejected(f'{what} {text!r} is not a time') from None


def read_streams(record: InputRecord) -> tuple[obspy.Stream, list[str]]:
  """The record's traces of its files, and a note per file unreadable or read with a warning.

  Of a file holding several stations only the traces of its row's station are
  kept (``grouping.select_traces``).

  Raises:
    RecordRejected: when no file gives a trace (reasons of each file joined), or
      a file holds several stations and nothing names the record's.
  """
  stream, problems = obspy.Stream(), []
  for path, row in zip(record.files, record.rows):
    try:
      if not path.is_file():
        raise FileNotFoundError('file not found')
      with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        read = obspy.read(str(path))
      # ObsPy reports a truncated MiniSEED file as a warning and returns what it read.
      problems += [f'{path.name}: {w.category.__name__}: {str(w.message)[:160]}' for w in caught]
      if not len(read) or all(tr.stats.npts == 0 for tr in read):
        raise ValueError('no samples')
      stream += grouping.select_traces(read, row, path.name)
    except RecordRejected:
      raise
    except Exception as error:  # a corrupt file is a reason, not a crash
      problems.append(f'{path.name}: unreadable ({type(error).__name__}: {str(error)[:120]})')
  if not len(stream):
    raise RecordRejected(' | '.join(problems) or 'no files')
  return stream, problems


def choose_traces(stream: obspy.Stream) -> tuple[dict[int, obspy.Stream], list[str]]:
  """Per component slot (Z, N, E) the traces of one SEED id, with notes on what was left.

  Raises:
    RecordRejected: when no trace has a Z/N/E/1/2 component code.
  """
  by_slot: dict[int, dict[str, obspy.Stream]] = {}
  unknown = set()
  for trace in stream:
    if trace.stats.npts == 0:
      continue
    slot = preprocess.component_slot(trace.stats.channel)
    if slot is None:
      unknown.add(trace.id)
      continue
    by_slot.setdefault(slot, {}).setdefault(trace.id, obspy.Stream()).append(trace)
  notes = [f'unknown channel {i} left out' for i in sorted(unknown)]
  if not by_slot:
    raise RecordRejected(f'no Z/N/E/1/2 channel among {sorted(unknown)}')
  chosen = {}
  for slot, ids in by_slot.items():
    best = max(ids, key=lambda i: (ids[i][0].stats.sampling_rate, sum(t.stats.npts for t in ids[i]), i))
    if len(ids) > 1:
      notes.append(f'kept {best} of {sorted(ids)}')
    chosen[slot] = ids[best]
  return chosen, notes


def merged_at_rate(traces: obspy.Stream, config: PreprocessConfig) -> tuple[obspy.Trace, list]:
  """One gap-filled trace at the output rate and the gap intervals of the input.

  Raises:
    RecordRejected: for NaN/inf samples, a too-low rate, or traces whose rates differ.
  """
  rates = {t.stats.sampling_rate for t in traces}
  if len(rates) > 1:
    raise RecordRejected(f'{traces[0].id}: segments at different rates {sorted(rates)}')
  for trace in traces:
    preprocess.reject_non_finite(trace)
  merged, gaps = preprocess.merge_segments(traces)
  return preprocess.resample(merged, config.sampling_rate, config.min_sampling_rate), gaps


def common_span(traces: dict[int, obspy.Trace]) -> tuple[obspy.UTCDateTime, dict[int, np.ndarray]]:
  """Start time and same-length sample arrays of all components (same rate)."""
  rate = next(iter(traces.values())).stats.sampling_rate
  start = max(t.stats.starttime for t in traces.values())
  end = min(t.stats.endtime for t in traces.values())
  if end <= start:
    raise RecordRejected('components do not overlap in time')
  n = int(math.floor((end - start) * rate)) + 1
  arrays = {}
  for slot, trace in traces.items():
    first = int(round((start - trace.stats.starttime) * rate))
    arrays[slot] = np.asarray(trace.data[first:first + n], dtype=np.float64)
  n = min(len(a) for a in arrays.values())
  return start, {slot: a[:n] for slot, a in arrays.items()}


class ModelWindow(NamedTuple):
  """A record's window as the model takes it, and what it holds."""
  window: np.ndarray       # (window_samples, 3) float32 in ``conventions.COMPONENT_ORDER``
  present: str             # the components that carry signal, e.g. 'ZNE' or 'Z'
  flat: frozenset[int]     # component slots that are flat (zero variance)
  recorded_samples: int    # samples recorded from the P onset; the rest of the window is zero padding
  noise: np.ndarray | None = None  # (noise_samples, 3) pre-event noise, scaled as the window; None without noise_s
  noise_kept_s: float = 0.0  # seconds of real noise in it (less than noise_s under the 'shorter' fallback)

  def padded_s(self, config: PreprocessConfig) -> float:
    """Seconds of zero padding at the window's end."""
    return (config.window_samples - self.recorded_samples) / config.sampling_rate


def assemble_window(arrays: Mapping[int, np.ndarray], start: obspy.UTCDateTime, onset: obspy.UTCDateTime,
                    config: PreprocessConfig, *, flat: Iterable[int] = (), origin: obspy.UTCDateTime | None = None,
                    gaps: Sequence = ()) -> ModelWindow:
  """The model's window of a record's components, each at ``config.sampling_rate`` from ``start``.

  Each component is band-passed over the whole record, cut from the P onset,
  detrended, zero-padded at the end and normalised (``config.normalization``;
  ``noise.normalise_window``); components absent from ``arrays`` are zero-filled.
  With ``config.noise_s`` the pre-event noise is cut from the same band-passed
  record (``noise.cut_noise``) and scaled as its window.

  Args:
    arrays: {component slot: samples} of the components kept.
    start: the time of every array's first sample.
    onset: the P onset: the window's first sample.
    config: the signal parameters.
    flat: slots already known to be flat (e.g. before cutting); a component whose
      window turns out flat is added.
    origin: the event's origin time (needed with ``config.noise_s``: the noise ends before it).
    gaps: (start, end) times of the record's interpolated gaps (checked inside the noise).

  Returns:
    The window, the components carrying signal, the flat slots and the recorded samples.

  Raises:
    RecordRejected: when the onset is outside a component, or a component ends
      more than ``config.max_pad_s`` before the window does.
  """
  rate = config.sampling_rate
  if config.noise_s > 0 and origin is None:
    raise RecordRejected('no origin time: the pre-event noise (noise_s) ends before it')
  # The picker has its own band (PickerConfig), so it ran on the unfiltered record.
  filtered = {slot: preprocess.bandpass_record(data, rate, config) for slot, data in arrays.items()}
  cut = {slot: preprocess.cut_window(data, start, rate, onset, config) for slot, data in filtered.items()}
  noises, noise_kept_s = noise_lib.cut_noise(filtered, start, origin, onset, gaps, config)
  channels, noise_channels, flat = {}, {}, set(flat) & set(arrays)
  for slot, data in cut.items():
    channels[slot], noise_channels[slot], dead = noise_lib.normalise_window(data, noises.get(slot), config)
    if dead:
      flat.add(slot)
  window, _ = preprocess.assemble_components(channels, config.window_samples)
  noise = preprocess.assemble_components(noise_channels, config.noise_samples)[0] if noises else None
  present = ''.join(c for i, c in enumerate(conventions.COMPONENT_ORDER) if i in channels and i not in flat)
  return ModelWindow(window, present, frozenset(flat), min(len(data) for data in cut.values()), noise, noise_kept_s)


def record_label(record: InputRecord, event: catalog_lib.CatalogEvent | None,
                 type_map: Mapping[str, str]) -> tuple[int, str]:
  """(label, event type) from the table or catalog type, checked against a label column.

  Raises:
    RecordRejected: unknown type, a label that is not 0/1, or type and label disagreeing.
  """
  event_type = record.field('event_type') or (event.event_type if event else '')
  given = record.field('label')
  if event_type:
    label = labels_lib.label_for_event_type(event_type, type_map)
    if given and given != str(label):
      raise RecordRejected(f'event type {event_type!r} means label {label} but the label column says {given!r}')
    return label, event_type
  if given not in ('0', '1'):
    raise RecordRejected(f'no event type and label {given!r} is not 0 or 1')
  return int(given), 'earthquake' if given == '0' else 'non-tectonic'


def record_distance_km(record: InputRecord, traces: dict[int, obspy.Stream], origin: obspy.UTCDateTime,
                       event: catalog_lib.CatalogEvent | None, inventory) -> float | None:
  """Epicentral distance from the table, else from event and station coordinates."""
  given = parse_float(record.field('distance_km'))
  if given is not None:
    return given
  sac = next(iter(traces.values()))[0].stats.get('sac', {})
  def first(*values):
    return next((v for v in values if v is not None and math.isfinite(v)), None)
  ev_lat = first(parse_float(record.field('event_latitude')), event.latitude if event else None, sac.get('evla'))
  ev_lon = first(parse_float(record.field('event_longitude')), event.longitude if event else None, sac.get('evlo'))
  trace = next(iter(traces.values()))[0]
  station = catalog_lib.station_coordinates(inventory, trace.stats.network, trace.stats.station, origin)
  st_lat = first(parse_float(record.field('station_latitude')), station[0] if station else None, sac.get('stla'))
  st_lon = first(parse_float(record.field('station_longitude')), station[1] if station else None, sac.get('stlo'))
  if None in (ev_lat, ev_lon, st_lat, st_lon):
    return float(sac['dist']) if sac.get('dist') is not None else None  # ObsPy drops unset (-12345) headers
  return preprocess.epicentral_distance_km(ev_lat, ev_lon, st_lat, st_lon)


def p_onset(record: InputRecord, traces: dict[int, obspy.Stream], picking_trace: obspy.Trace,
            origin: obspy.UTCDateTime, distance_km: float | None,
            event: catalog_lib.CatalogEvent | None, options: PrepareOptions
            ) -> tuple[obspy.UTCDateTime, str, str]:
  """The P onset, how it was found (see the module docstring for the order) and its quality.

  Returns:
    (onset, method, quality): quality is the STA/LTA peak after an STA/LTA onset, else ''.

  Raises:
    RecordRejected: when the picker fails and ``options.p_fallback == 'none'``.
  """
  given = _time(record.field('p_time'), 'P time')
  if given is not None:
    return given, 'table', ''
  trace = next(iter(traces.values()))[0]
  if event is not None:
    key = f'{trace.stats.network}.{trace.stats.station}'
    if key in event.p_picks:
      return event.p_picks[key], 'catalog', ''
  for slot in sorted(traces):
    found = picking.sac_pick(traces[slot][0])
    if found:
      return (*found, '')
  preprocess.check_covers_origin(picking_trace.stats.starttime, picking_trace.stats.npts,
                                 picking_trace.stats.sampling_rate, origin, options.preprocess)
  depth_km = parse_float(record.field('event_depth_km'))
  try:
    onset, peak = picking.sta_lta_onset(picking_trace, origin, distance_km, options.picker, depth_km)
    return onset, 'sta_lta', f'{peak:.2f}'
  except RecordRejected as error:
    if options.p_fallback == 'none':
      raise
    if distance_km is not None:
      return origin + picking.p_travel_time_s(distance_km, depth_km), f'fallback:travel_time ({error})', ''
    return origin, f'fallback:origin ({error})', ''


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


def _origin_from_p_time(record: InputRecord, notes: list[str]) -> obspy.UTCDateTime:
  """The given P time, standing in for a record's unknown origin time (noted), else a rejection."""
  given = _time(record.field('p_time'), 'P time')
  if given is None:
    raise RecordRejected('no origin time (table column, SAC o header or catalog) and no P time to stand in for it')
  notes.append('no origin time: the P time stands in for it')
  return given


def _prepare_record(record: InputRecord, options: PrepareOptions, notes: list[str],
                    stream: obspy.Stream | None) -> PreparedRecord:
  config = options.preprocess
  if stream is None:
    stream, read_notes = read_streams(record)
    notes += read_notes
  elif not any(trace.stats.npts for trace in stream):
    raise RecordRejected('the stream holds no samples')
  else:
    stream = grouping.select_traces(stream, record.rows[0], 'the stream')
  chosen, choice_notes = choose_traces(stream)
  notes += choice_notes + record_checks.signal_notes(chosen)
  first_trace = next(iter(chosen.values()))[0]
  origin = _time(record.field('origin_time'), 'origin time') or picking.sac_origin(first_trace)
  event = None
  if options.catalog is not None:
    span = (min(t.stats.starttime for t in stream), max(t.stats.endtime for t in stream))
    event = catalog_lib.find_event(list(options.catalog), record.field('event_id'), origin, span)
    origin = origin or event.origin_time
  if origin is None:
    origin = _origin_from_p_time(record, notes)
  if options.unlabeled:
    label, event_type = conventions.UNLABELED, conventions.UNLABELED_TYPE
  else:
    label, event_type = record_label(record, event, options.event_type_map)
  event_id = record.field('event_id') or (event.event_id if event else '') or str(origin)
  distance_km = record_distance_km(record, chosen, origin, event, options.inventory)
  preprocess.check_distance(distance_km, config.max_distance_km)
  resampled, gaps, failures = {}, {}, []
  for slot, traces in chosen.items():
    try:
      resampled[slot], gaps[slot] = merged_at_rate(traces, config)
    except RecordRejected as error:
      failures.append(str(error))
  if not resampled:
    raise RecordRejected(' | '.join(failures))
  notes += [f'component dropped: {reason}' for reason in failures]
  flat = {slot for slot, trace in resampled.items() if preprocess.standardise(trace.data)[1]}
  if len(flat) == len(resampled):
    raise RecordRejected('all channels flat (zero variance)')
  pick_slot = min(set(resampled) - flat)  # Z when it carries signal
  onset, method, quality = p_onset(record, chosen, resampled[pick_slot], origin, distance_km, event, options)
  notes += record_checks.timing_notes(onset, origin, distance_km)
  resampled, short = preprocess.drop_short_components(resampled, onset, config, keep=pick_slot)
  notes += [f'component dropped: {reason}' for reason in short]
  gaps = [gap for slot in resampled for gap in gaps[slot]]
  start, arrays = common_span(resampled)
  assembled = assemble_window(arrays, start, onset, config, flat=flat, origin=origin, gaps=gaps)
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
                    ) -> tuple[RecordSet | None, list[dict[str, str]]]:
  """Prepare every input record; rejected ones get a line with their reason.

  Args:
    records: the input records.
    options: preprocessing, picking and labelling options.
    progress: called as ``progress(done, accepted, rejected)`` after each record.
    spool_path: when given, windows are appended to this raw float32 file as they
      are made and the result's waveforms are a read-only memmap of it, so memory
      stays bounded however many records are prepared.

  Returns:
    (accepted records or None when none was accepted, rejection lines
    {source, record, file, reason}).
  """
  spool = open(spool_path, 'wb') if spool_path else None

  def keep(record: InputRecord, result: PreparedRecord) -> PreparedRecord:
    if not spool:
      return result
    spool.write(np.ascontiguousarray(result.window, np.float32).tobytes())
    return dataclasses.replace(result, window=None)

  try:
    prepared, rejected = prepare_or_reject(records, options, keep=keep, progress=progress)
  finally:
    if spool:
      spool.close()
  waveforms = None
  if spool and prepared:
    shape = (len(prepared), options.preprocess.window_samples, len(conventions.COMPONENT_ORDER))
    waveforms = np.memmap(spool_path, np.float32, 'r', shape=shape)
  return to_record_set(prepared, waveforms), rejected


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
  kept, rejected = [], []
  duplicates = DuplicateCheck()
  for done, record in enumerate(records, 1):
    try:
      duplicates.check_files(record)
      prepared = (prepare or prepare_record)(record, options)
      duplicates.check_record_id(record, prepared.record_id)
    except Exception as error:  # one bad file is a listed reason, never a crash
      rejected.append(rejection_line(record, rejection_reason(error)))
    else:
      kept.append(keep(record, prepared))
    if progress:
      progress(done, len(kept), len(rejected))
  return kept, rejected


def rejection_reason(error: Exception) -> str:
  """A rejection report's reason for ``error``: a ``RecordRejected``'s own words, else its type and message."""
  return str(error) if isinstance(error, RecordRejected) else f'{type(error).__name__}: {error}'


class DuplicateCheck:
  """Rejects an input record listed twice, so no record (or event) is counted twice downstream."""

  def __init__(self):
    self._files: dict[tuple[str, ...], str] = {}
    self._record_ids: dict[str, str] = {}

  def check_files(self, record: InputRecord) -> None:
    """Rejects a record whose files are those of an earlier record (a duplicated table row).

    Raises:
      RecordRejected: naming the earlier record.
    """
    key = tuple(sorted(str(path.resolve()) for path in record.files))
    if key in self._files:
      raise RecordRejected(f'duplicate: the same file(s) as an earlier record ({self._files[key]}) listed again')
    self._files[key] = record.file_names

  def check_record_id(self, record: InputRecord, record_id: str) -> None:
    """Rejects a second accepted record of one event, station and channel (other files, same recording).

    Raises:
      RecordRejected: naming the record id and the earlier record's files.
    """
    if record_id in self._record_ids:
      raise RecordRejected(f'duplicate record_id {record_id}: the same event, station and channel as '
                           f'{self._record_ids[record_id]}')
    self._record_ids[record_id] = record.file_names


def rejection_line(record: InputRecord, reason: str) -> dict[str, str]:
  """The rejection report's row for ``record``: {source, record, file, reason}."""
  name = record.files[0].stem if len(record.files) == 1 else f'{record.files[0].stem} +{len(record.files) - 1} files'
  return {'source': record.source, 'record': name, 'file': record.file_names, 'reason': reason}


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


class ReasonKind(NamedTuple):
  """Rejections of one kind: the reason without its numbers and names, how many, and one real reason."""
  kind: str
  count: int
  example: str


def reason_kinds(rejected: Iterable[Mapping[str, str]]) -> list[ReasonKind]:
  """Rejections grouped by kind of reason (``reason_kind``), most frequent first, each with its first reason."""
  groups: dict[str, list[str]] = {}
  for line in rejected:
    groups.setdefault(reason_kind(line['reason']), []).append(line['reason'])
  kinds = [ReasonKind(kind, len(reasons), reasons[0]) for kind, reasons in groups.items()]
  return sorted(kinds, key=lambda k: -k.count)


def reason_kind(reason: str) -> str:
  """A reason's category: its first clause without notes, trace id, numbers or times."""
  first_clause = reason.split(' [')[0].split(' | ')[0]
  text = re.sub(r'^[\w\-]*\.[\w\-]*\.[\w\-]*\.[\w\-]*: ', '', first_clause)
  return re.sub(r'[-+]?\d[\d.:\-TZ]*', '#', text).strip()
