"""Forward (rolling-origin) and station-grouped folds, on made-up records and on the real PNW years."""

import csv
import pathlib

import numpy as np
import pytest

from ganet_jax.data.splits import forward_folds, origin_years, station_folds

DATA = pathlib.Path(__file__).resolve().parents[1] / '..' / 'shared' / 'data'


def _records(event_table, per_event=2):
  """Records of (year, label) events, ``per_event`` each; event ids 'ev0', 'ev1', ..."""
  years = np.repeat([y for y, _ in event_table], per_event)
  labels = np.repeat([c for _, c in event_table], per_event)
  events = np.repeat([f'ev{i}' for i in range(len(event_table))], per_event)
  return years, events, labels


def _check_forward(fold, years):
  assert np.all(years[fold.train] < fold.start)
  assert np.all((years[fold.validation] >= fold.start) & (years[fold.validation] < fold.end))
  assert not set(fold.train) & set(fold.validation)


def test_forward_folds_train_only_on_earlier_years_and_skip_one_class_training():
  table = [(2001, 0), (2002, 0), (2002, 1), (2003, 1), (2003, 0), (2005, 1), (2006, 0), (2006, 0)]
  years, events, labels = _records(table)
  folds, skipped = forward_folds(years, events, labels)
  assert [f.name for f in folds] == ['2003', '2005', '2006']
  assert skipped == ['2001: training before 2001 holds 0 tectonic, 0 non-tectonic events (needs >= 1 per class)',
                     '2002: training before 2002 holds 0 non-tectonic events (needs >= 1 per class)']
  for fold in folds:
    _check_forward(fold, years)
  assert folds[0].train_events == {'tectonic': 2, 'non_tectonic': 1}
  assert folds[0].validation_events == {'tectonic': 1, 'non_tectonic': 1}
  assert folds[1].validation_events == {'tectonic': 0, 'non_tectonic': 1}  # one class: kept, and said
  assert len(folds[2].train) == 2 * 6 and len(folds[2].validation) == 2 * 2

  stricter, why = forward_folds(years, events, labels, min_train_events_per_class=2)
  assert [f.name for f in stricter] == ['2005', '2006'] and why[-1].startswith('2003: training before 2003 holds 1 ')

  blocks, why = forward_folds(years, events, labels, boundaries=[2003, 2005, 2007, 2010])
  assert [b.name for b in blocks] == ['2003-2004', '2005-2006'] and why == ['2007-2009: no events to validate']
  for fold in blocks:
    _check_forward(fold, years)
  assert blocks[0].validation_events == {'tectonic': 1, 'non_tectonic': 1}
  assert blocks[1].validation_events == {'tectonic': 2, 'non_tectonic': 1}

  chosen, _ = forward_folds(years.astype(str).astype('datetime64[Y]'), events, labels, origins=[2006])
  assert [f.name for f in chosen] == ['2006'] and len(chosen[0].train) == 2 * 6


def test_forward_folds_refuse_bad_input():
  years, events, labels = _records([(2001, 0), (2002, 1)])
  with pytest.raises(ValueError, match='not both'):
    forward_folds(years, events, labels, origins=[2002], boundaries=[2001, 2003])
  with pytest.raises(ValueError, match='increasing'):
    forward_folds(years, events, labels, boundaries=[2003, 2003])
  with pytest.raises(ValueError, match="event id 'ev0' names records with different origin years"):
    forward_folds(np.array([2001, 2002, 2002, 2002]), events, labels)
  with pytest.raises(ValueError, match='dtype <U'):
    origin_years(['2001'])


def _station_records():
  rng = np.random.default_rng(0)
  stations = [f'UW.S{i:02d}' for i in range(12)]
  rows = []
  for event in range(30):
    label = int(event % 3 == 0)
    for station in rng.choice(stations, size=rng.integers(1, 5), replace=False):
      rows.append((station, f'ev{event}', label))
  return [np.array(column) for column in zip(*rows)]


def test_station_folds_never_share_a_station_and_partition_the_records():
  stations, events, labels = _station_records()
  labels = labels.astype(int)
  folds = station_folds(stations, events, labels, 3, seed=0)
  assert sorted(np.concatenate([f.validation for f in folds]).tolist()) == list(range(len(stations)))
  for fold in folds:
    assert not set(stations[fold.train]) & set(stations[fold.validation])
    assert set(stations[fold.validation]) == set(fold.stations)
    assert fold.validation_records['non_tectonic'] > 0 and fold.validation_records['tectonic'] > 0
    straddling = set(events[fold.train]) & set(events[fold.validation])
    assert fold.shared_events == len(straddling)
  assert sum(f.shared_events for f in folds) > 0  # events recorded on both sides: allowed, and counted
  again = station_folds(stations, events, labels, 3, seed=0)
  assert [f.stations for f in again] == [f.stations for f in folds]
  with pytest.raises(ValueError, match='at least 20 stations, got 12'):
    station_folds(stations, events, labels, 20, seed=0)


def _real_labels():
  rows = []
  for name in ('pnw', 'pnw-extra'):
    path = DATA / name / 'labels.csv'
    if not path.exists():
      pytest.skip(f'{path} is not here')
    with open(path, newline='') as f:
      rows += list(csv.DictReader(f))
  years = np.array([int(r['origin_time'][:4]) for r in rows])
  return (years, np.array([r['event_id'] for r in rows]), np.array([int(r['label']) for r in rows]),
          np.array([f"{r['network']}.{r['station']}" for r in rows]))


def test_forward_folds_over_the_real_pnw_years():
  years, events, labels, stations = _real_labels()
  explosion_years = sorted(set(years[labels == 1]))
  assert explosion_years == [2002, 2003, 2005, 2007, 2008, 2009, 2010, 2012, 2013, 2015, 2016, 2017,
                             2018, 2019, 2020, 2021]
  folds, skipped = forward_folds(years, events, labels, origins=explosion_years)
  # 2002 has nothing before it; every later year with explosions trains on both classes.
  assert skipped == ['2002: training before 2002 holds 0 tectonic, 0 non-tectonic events (needs >= 1 per class)']
  assert [f.start for f in folds] == explosion_years[1:]
  for fold in folds:
    _check_forward(fold, years)
    assert fold.validation_events['non_tectonic'] > 0
  by_year = {f.start: f.validation_events for f in folds}
  assert by_year[2021] == {'tectonic': 26, 'non_tectonic': 4}
  assert by_year[2015] == {'tectonic': 0, 'non_tectonic': 8}  # a year of one class: pooled, not scored alone
  assert sum(f.validation_events['non_tectonic'] for f in folds) == 46 - 1  # all explosion events but 2002's
  # pnw's 2021 explosions come mostly from stations not seen before 2021.
  seen = set(stations[years < 2021])
  explosions_2021 = (years == 2021) & (labels == 1)
  assert np.sum(np.isin(stations[explosions_2021], list(seen))) == 10 and explosions_2021.sum() == 40
