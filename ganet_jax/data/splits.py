"""Train/test splits and cross-validation folds.

The paper splits chronologically (events 2009-2016 train, 2017-2018 test); with
few events a seeded random split by event is the other option. Cross-validation
comes in three kinds, from the most to the least like deployment:

  forward_folds        rolling origin: train on the events before year Y, validate on
                       year Y (or a block of years), for several Y. A model is judged
                       on years it never saw, as it will be.
  station_folds        validation stations never appear in training: a model is judged
                       on stations it never saw (an event may have records on both sides).
  event_grouped_folds  shuffled, whole events per fold, years and stations mixed: rewards
                       a model that learns the station or the era; kept for comparison.

No split ever puts records of one event on both sides, except station folds.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from ganet_jax.conventions import NON_TECTONIC, TECTONIC
from ganet_jax.data import grouping
from ganet_jax.data.records import RecordSet


def chronological_split(records: RecordSet, boundaries: Sequence[str | np.datetime64],
                        names: Sequence[str] = ('train', 'test')) -> dict[str, np.ndarray]:
  """Indices per split by event origin time.

  Args:
    records: the record set.
    boundaries: increasing times; split ``i`` holds events with
      ``boundaries[i-1] <= origin < boundaries[i]`` (e.g. ``['2017-01-01']`` gives
      the paper's train < 2017 <= test).
    names: one name per split, ``len(boundaries) + 1`` of them.

  Returns:
    {name: sorted record indices}. Every record of an event lands in one split:
    the event's first record's origin places it.
  """
  edges = np.asarray(boundaries, dtype='datetime64[ms]')
  if len(names) != len(edges) + 1:
    raise ValueError(f'{len(edges)} boundaries need {len(edges) + 1} split names, got {list(names)}')
  if np.any(np.diff(edges) <= np.timedelta64(0, 'ms')):
    raise ValueError(f'split boundaries must increase: {[str(e) for e in edges]}')
  check_events_consistent(records)
  origins = np.asarray(records.origin_times, 'datetime64[ms]')
  events, first, where = np.unique(records.event_ids, return_index=True, return_inverse=True)
  which = np.searchsorted(edges, origins[first], side='right')[np.ravel(where)]
  return {name: np.flatnonzero(which == i) for i, name in enumerate(names)}


def event_grouped_random_split(records: RecordSet, fractions: Sequence[float], *, seed: int,
                               names: Sequence[str] = ('train', 'test')) -> dict[str, np.ndarray]:
  """Indices per split: whole events, each class's events shuffled with ``seed`` and cut by ``fractions``.

  Stratified by class, so every split holds about its fraction of each class's events
  (a set whose classes lie in different years, where no chronological split has both
  classes on both sides, still trains and tests on both).

  Raises:
    ValueError: fractions that do not sum to 1 with one per name, or an event id naming two events.
  """
  if len(fractions) != len(names) or not np.isclose(sum(fractions), 1.0):
    raise ValueError(f'fractions {list(fractions)} must sum to 1 with one per name {list(names)}')
  check_events_consistent(records)
  events, first = np.unique(np.asarray(records.event_ids, dtype=str), return_index=True)
  event_labels = np.asarray(records.labels)[first]
  rng = np.random.default_rng(seed)
  groups: list[list[str]] = [[] for _ in names]
  for label in np.unique(event_labels):
    members = rng.permutation(events[event_labels == label])
    cuts = np.round(np.cumsum(fractions)[:-1] * len(members)).astype(int)
    for group, part in zip(groups, np.split(members, cuts)):
      group += part.tolist()
  return {name: np.flatnonzero(np.isin(records.event_ids, group)) for name, group in zip(names, groups)}


def check_events_consistent(records: RecordSet) -> None:
  """Rejects an event id whose records disagree on origin time or label (``check_event_ids``).

  An event id is the unit every split keeps whole, so it must name one event; a
  clash usually means two inputs (``source`` column) number their events alike.

  Raises:
    ValueError: naming the event, the two values and, where known, their sources.
  """
  check_event_ids(records.event_ids, records.origin_times, records.labels, records.sources)


def check_event_ids(event_ids: Sequence[str], origin_times, labels: Sequence[int] | None = None,
                    sources: Sequence[str] | None = None, *,
                    tolerance_s: float = grouping.EVENT_TOLERANCE_S) -> None:
  """Raises ValueError when one event id names records of two events.

  Two events: origins further apart than ``tolerance_s`` (the records table's rule,
  ``grouping.assign_events``: SAC headers and catalogs move one origin by
  microseconds), or two labels.

  Args:
    event_ids: (n,) the records' event ids.
    origin_times: (n,) their origins (anything ``numpy.datetime64`` takes).
    labels: (n,) their labels, or None where they have none (classification).
    sources: (n,) the inputs they came from, named in the message where they differ.
    tolerance_s: origins closer than this are one event.

  Raises:
    ValueError: naming the event, the two origins and labels, their sources and what to do.
  """
  times = np.asarray(origin_times, 'datetime64[ms]')
  labels = np.full(len(times), -1) if labels is None else np.asarray(labels).astype(int)
  sources = np.full(len(times), '') if sources is None else np.asarray(sources, dtype=str)
  events = np.asarray(event_ids, dtype=str)
  if not len(events):
    return
  # each record against its event's first record, all at once (a set may hold millions)
  _, firsts, which = np.unique(events, return_index=True, return_inverse=True)
  first = firsts[which.reshape(-1)]
  apart_s = np.abs((times - times[first]) / np.timedelta64(1, 'ms')) / 1000  # NaN (never apart) for no origin
  clashes = np.flatnonzero((apart_s > tolerance_s) | (labels != labels[first]))
  if len(clashes):
    i = clashes[0]
    j = first[i]
    where = f' (sources {str(sources[j])!r} and {str(sources[i])!r})' if sources[j] != sources[i] else ''
    said = lambda k: f'{times[k]}' + (f' label {labels[k]}' if labels[k] >= 0 else '')
    raise ValueError(f'event id {str(events[i])!r} names records of two events{where}: {said(j)} and {said(i)}; event '
                     f'ids must be unique across inputs (rename one input\'s events), and one event has one '
                     f'origin time and one label')


def event_grouped_folds(records: RecordSet, num_folds: int, *, seed: int) -> list[np.ndarray]:
  """Record indices of ``num_folds`` cross-validation folds, whole events per fold, classes spread evenly.

  Events of each class are shuffled with ``seed`` and dealt to the folds in turn, so
  every fold gets about ``1 / num_folds`` of the events of each class (stratified by
  event, not by record: a fold's record counts follow its events' station counts).

  Raises:
    ValueError: if a class has fewer events than ``num_folds`` (some fold would lack it).
  """
  check_events_consistent(records)
  events, first = np.unique(records.event_ids, return_index=True)
  fold_of_event = assign_event_folds(events, np.asarray(records.labels)[first], num_folds, seed=seed)
  which = np.array([fold_of_event[event] for event in records.event_ids])
  return [np.flatnonzero(which == fold) for fold in range(num_folds)]


def assign_event_folds(events, event_labels, num_folds: int, *, seed: int) -> dict[str, int]:
  """{event id: fold} for unique ``events`` with their labels, stratified by class (see ``event_grouped_folds``).

  A function of the sorted (event, label) pairs and ``seed`` only, so several data
  sets prepared from the same records (other windows or filters) get the same folds.
  """
  order = np.argsort(np.asarray(events, dtype=str), kind='stable')
  events, event_labels = np.asarray(events, dtype=str)[order], np.asarray(event_labels)[order]
  rng = np.random.default_rng(seed)
  fold_of_event = {}
  for label in np.unique(event_labels):
    members = events[event_labels == label]
    if len(members) < num_folds:
      raise ValueError(f'{num_folds} folds need at least {num_folds} events of class {int(label)}, '
                       f'got {len(members)}')
    offset = len(fold_of_event)  # start each class where the last one stopped, to even out fold sizes
    for i, event in enumerate(rng.permutation(members)):
      fold_of_event[str(event)] = (offset + i) % num_folds
  return fold_of_event


def _class_counts(labels) -> dict[str, int]:
  labels = np.asarray(labels)
  return {'tectonic': int(np.sum(labels == TECTONIC)), 'non_tectonic': int(np.sum(labels == NON_TECTONIC))}


def origin_years(origin_times) -> np.ndarray:
  """(n,) int years of origin times given as datetime64 values or as years already.

  Raises:
    ValueError: for another kind of value (e.g. strings: parse them to datetime64 first).
  """
  values = np.asarray(origin_times)
  if np.issubdtype(values.dtype, np.datetime64):
    return values.astype('datetime64[Y]').astype(np.int64) + 1970
  if np.issubdtype(values.dtype, np.integer):
    return values.astype(np.int64)
  raise ValueError(f'origin times must be datetime64 values or integer years, got dtype {values.dtype}')


def _events_by_year(years, event_ids, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(event year, event label, each record's event index); an event's records must agree on both."""
  event_ids, labels = np.asarray(event_ids), np.asarray(labels)
  if not len(years) == len(event_ids) == len(labels):
    raise ValueError(f'{len(years)} origin times, {len(event_ids)} event ids and {len(labels)} labels: '
                     'one of each per record')
  events, inverse = np.unique(event_ids, return_inverse=True)
  inverse = inverse.reshape(-1)
  event_years, event_labels = np.zeros(len(events), np.int64), np.zeros(len(events), labels.dtype)
  event_years[inverse], event_labels[inverse] = years, labels
  clash = (event_years[inverse] != years) | (event_labels[inverse] != labels)
  if clash.any():
    raise ValueError(f'event id {str(event_ids[clash][0])!r} names records with different origin years or labels')
  return event_years, event_labels, inverse


@dataclasses.dataclass(frozen=True)
class ForwardFold:
  """One rolling-origin fold: train on events before ``start``, validate on events in [start, end).

  Attributes:
    start, end: the validation years, ``start <= year < end``.
    train, validation: sorted record indices.
    train_events, validation_events: {'tectonic': n, 'non_tectonic': n} events per class.
  """
  start: int
  end: int
  train: np.ndarray
  validation: np.ndarray
  train_events: dict[str, int]
  validation_events: dict[str, int]

  @property
  def name(self) -> str:
    """'2019' for one year, '2012-2017' for a block."""
    return str(self.start) if self.end == self.start + 1 else f'{self.start}-{self.end - 1}'


def forward_folds(origin_times, event_ids, labels, *, origins: Sequence[int] | None = None,
                  boundaries: Sequence[int] | None = None,
                  min_train_events_per_class: int = 1) -> tuple[list[ForwardFold], list[str]]:
  """Rolling-origin folds: each trains on the events before its years and validates on them.

  A fold never trains on its validation years or later, and events after its block are
  in neither side. The training window expands: fold Y trains on every event before Y.

  Args:
    origin_times: (n,) per-record origin times (datetime64) or origin years (int).
    event_ids, labels: (n,) per record; 0 tectonic, 1 non-tectonic.
    origins: validation years, one fold each. Default (with ``boundaries`` None too):
      every year that holds an event.
    boundaries: increasing years instead of ``origins``: fold k validates
      ``[boundaries[k], boundaries[k + 1])``, so k + 1 boundaries give k folds.
    min_train_events_per_class: a fold whose training events of either class are fewer
      is skipped (a model cannot learn a class it never sees).

  Returns:
    (folds, skipped): the usable ``ForwardFold``s in time order, and one line per skipped
    fold saying why (no training events of a class, or no validation events). A fold
    whose validation years hold one class only is kept: its ``validation_events`` say
    so, and pooled predictions over several folds still give both classes.

  Raises:
    ValueError: for both ``origins`` and ``boundaries``, boundaries that do not increase,
      or records of one event with different years or labels.
  """
  years = origin_years(origin_times)
  event_years, event_labels, inverse = _events_by_year(years, event_ids, labels)
  if origins is not None and boundaries is not None:
    raise ValueError('give validation years as origins (one year per fold) or boundaries (blocks), not both')
  if boundaries is not None:
    edges = [int(b) for b in boundaries]
    if len(edges) < 2 or any(b >= a for a, b in zip(edges[1:], edges)):
      raise ValueError(f'boundaries must be at least two increasing years, got {list(boundaries)}')
    blocks = list(zip(edges[:-1], edges[1:]))
  else:
    starts = sorted({int(y) for y in (origins if origins is not None else np.unique(event_years))})
    blocks = [(y, y + 1) for y in starts]
  folds, skipped = [], []
  for start, end in blocks:
    before, inside = event_years < start, (event_years >= start) & (event_years < end)
    train_events, validation_events = _class_counts(event_labels[before]), _class_counts(event_labels[inside])
    name = str(start) if end == start + 1 else f'{start}-{end - 1}'
    short = [cls for cls, n in train_events.items() if n < min_train_events_per_class]
    if short:
      skipped.append(f'{name}: training before {start} holds '
                     + ', '.join(f'{train_events[cls]} {cls.replace("_", "-")}' for cls in short)
                     + f' events (needs >= {min_train_events_per_class} per class)')
      continue
    if not inside.any():
      skipped.append(f'{name}: no events to validate')
      continue
    folds.append(ForwardFold(start=start, end=end, train=np.flatnonzero(before[inverse]),
                             validation=np.flatnonzero(inside[inverse]), train_events=train_events,
                             validation_events=validation_events))
  return folds, skipped


@dataclasses.dataclass(frozen=True)
class StationFold:
  """One station-grouped fold.

  Attributes:
    stations: the validation stations (sorted); training uses every other station.
    train, validation: sorted record indices.
    validation_records, validation_events: {'tectonic': n, 'non_tectonic': n}.
    shared_events: events with records on both sides (recorded at a validation station
      and at a training one).
  """
  stations: tuple[str, ...]
  train: np.ndarray
  validation: np.ndarray
  validation_records: dict[str, int]
  validation_events: dict[str, int]
  shared_events: int


def station_folds(stations, event_ids, labels, num_folds: int, *, seed: int) -> list[StationFold]:
  """Folds by station: the validation stations of a fold never appear in its training.

  Stations are shuffled with ``seed`` and dealt, those with the most non-tectonic
  records first, each to the fold whose share of the non-tectonic and of the tectonic
  records is then smallest, so each fold gets about ``1 / num_folds`` of each class's
  records.

  Records, not events, are split: an event recorded at a validation station and at a
  training station has records on both sides (``StationFold.shared_events`` counts
  them). That is the point of the scheme, which asks whether a model recognises the
  source at a station it never saw, but the model has then seen the event itself
  through other stations: combine with a time split to rule that out.

  Args:
    stations: (n,) station key of each record (e.g. 'UW.BHW').
    event_ids, labels: (n,) per record; 0 tectonic, 1 non-tectonic.
    num_folds: number of folds.
    seed: seeds the shuffle that breaks ties between stations.

  Returns:
    ``num_folds`` ``StationFold``s whose validation sets partition the records.

  Raises:
    ValueError: with fewer stations than folds, or arrays of different lengths.
  """
  stations, event_ids, labels = np.asarray(stations, dtype=str), np.asarray(event_ids), np.asarray(labels)
  if not len(stations) == len(event_ids) == len(labels):
    raise ValueError(f'{len(stations)} stations, {len(event_ids)} event ids and {len(labels)} labels: '
                     'one of each per record')
  names, station_of = np.unique(stations, return_inverse=True)
  station_of = station_of.reshape(-1)
  if len(names) < num_folds:
    raise ValueError(f'{num_folds} station folds need at least {num_folds} stations, got {len(names)}')
  per_class = np.stack([np.bincount(station_of[labels == cls], minlength=len(names))
                        for cls in (NON_TECTONIC, TECTONIC)], axis=1).astype(np.float64)
  totals = np.maximum(per_class.sum(0), 1)
  shuffled = np.random.default_rng(seed).permutation(len(names))
  order = shuffled[np.lexsort((-per_class[shuffled, 1], -per_class[shuffled, 0]))]
  load = np.zeros((num_folds, 2))
  fold_of_station = np.zeros(len(names), int)
  for station in order:
    fold = int(np.argmin(((load + per_class[station]) / totals).sum(1)))
    fold_of_station[station] = fold
    load[fold] += per_class[station]
  folds = []
  for fold in range(num_folds):
    inside = fold_of_station[station_of] == fold
    validation_events, train_events = set(event_ids[inside]), set(event_ids[~inside])
    first = {event: label for event, label in zip(event_ids[inside], labels[inside])}
    folds.append(StationFold(stations=tuple(names[fold_of_station == fold]), train=np.flatnonzero(~inside),
                             validation=np.flatnonzero(inside), validation_records=_class_counts(labels[inside]),
                             validation_events=_class_counts(list(first.values())),
                             shared_events=len(validation_events & train_events)))
  return folds
