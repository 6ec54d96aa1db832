"""Train/test splits that never put records of one event on both sides.

The paper splits chronologically (events 2009-2016 train, 2017-2018 test); with
few events a seeded random split by event is the other option.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

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
    {name: sorted record indices}. Every record of an event lands in one split
    because all of them carry the event's origin time.
  """
  edges = np.asarray(boundaries, dtype='datetime64[ms]')
  if len(names) != len(edges) + 1:
    raise ValueError(f'{len(edges)} boundaries need {len(edges) + 1} split names, got {list(names)}')
  if np.any(np.diff(edges) <= np.timedelta64(0, 'ms')):
    raise ValueError(f'split boundaries must increase: {[str(e) for e in edges]}')
  check_events_consistent(records)
  which = np.searchsorted(edges, np.asarray(records.origin_times, 'datetime64[ms]'), side='right')
  return {name: np.flatnonzero(which == i) for i, name in enumerate(names)}


def event_grouped_random_split(records: RecordSet, fractions: Sequence[float], *, seed: int,
                               names: Sequence[str] = ('train', 'test')) -> dict[str, np.ndarray]:
  """Indices per split, whole events shuffled with ``seed`` and cut by ``fractions`` of events."""
  if len(fractions) != len(names) or not np.isclose(sum(fractions), 1.0):
    raise ValueError(f'fractions {list(fractions)} must sum to 1 with one per name {list(names)}')
  events = np.unique(records.event_ids)
  np.random.default_rng(seed).shuffle(events)
  cuts = np.round(np.cumsum(fractions)[:-1] * len(events)).astype(int)
  groups = np.split(events, cuts)
  return {name: np.flatnonzero(np.isin(records.event_ids, group)) for name, group in zip(names, groups)}


def check_events_consistent(records: RecordSet) -> None:
  """Rejects an event id whose records disagree on origin time or label.

  An event id is the unit every split keeps whole, so it must name one event; a
  clash usually means two inputs (``source`` column) number their events alike.

  Raises:
    ValueError: naming the event, the two values and, where known, their sources.
  """
  seen = {}
  for event, time, label, source in zip(records.event_ids, np.asarray(records.origin_times, 'datetime64[ms]'),
                                        records.labels, records.sources):
    first = seen.setdefault(event, (time, int(label), str(source)))
    if first[:2] != (time, int(label)):
      where = f' (sources {first[2]!r} and {str(source)!r})' if first[2] != source else ''
      raise ValueError(f'event id {str(event)!r} names records with different origin times or labels{where}: '
                       f'{first[0]} label {first[1]} and {time} label {int(label)}; event ids must be unique '
                       f'across inputs, and a split needs one origin time per event')


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
