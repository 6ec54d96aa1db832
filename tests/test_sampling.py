"""Training-set sampling: class- and station-balanced epoch orders, and the check of the records they need."""

import dataclasses

import numpy as np
import pytest

from ganet_jax.data.loader import balanced_epoch_order, sampling_weights
from ganet_jax.data.records import station_keys
from ganet_jax.data.synthetic import make_synthetic
from ganet_jax.errors import ConfigError
from ganet_jax.training import experiment
from ganet_jax.training.config import ExperimentConfig

# class 0: station A holds 80 records, B and C 5 each; class 1: D 8 records, E 2
LABELS = np.array([0] * 90 + [1] * 10)
STATIONS = np.array(['UW.A'] * 80 + ['UW.B'] * 5 + ['UW.C'] * 5 + ['CC.D'] * 8 + ['CC.E'] * 2)


def _shares(order, keys):
  return {key: float(np.mean(keys[order] == key)) for key in np.unique(keys)}


def test_station_balanced_order_draws_every_station_of_a_class_equally():
  order = balanced_epoch_order(LABELS, 20000, seed=0, epoch=1, stations=STATIONS)
  shares = _shares(order, STATIONS)
  for station in ('UW.A', 'UW.B', 'UW.C'):  # class 0's half, in thirds
    assert shares[station] == pytest.approx(1 / 6, abs=0.015)
  for station in ('CC.D', 'CC.E'):  # class 1's half, in halves
    assert shares[station] == pytest.approx(1 / 4, abs=0.015)
  # within a station, its records are drawn alike
  drawn_b = np.bincount(order[np.isin(order, np.flatnonzero(STATIONS == 'UW.B'))], minlength=100)[80:85]
  assert drawn_b.min() > 0.7 * drawn_b.max()


def test_station_balanced_order_can_keep_the_class_shares():
  weights = sampling_weights(LABELS, STATIONS, balance_classes=False)
  assert weights.sum() == pytest.approx(1.0)
  assert weights[LABELS == 1].sum() == pytest.approx(0.1)  # the classes' shares of the records
  assert weights[STATIONS == 'UW.A'].sum() == pytest.approx(0.3)  # a third of class 0's 0.9
  assert weights[STATIONS == 'CC.E'].sum() == pytest.approx(0.05)


def test_station_balanced_order_is_a_function_of_seed_and_epoch():
  order = balanced_epoch_order(LABELS, 64, seed=3, epoch=2, stations=STATIONS)
  np.testing.assert_array_equal(order, balanced_epoch_order(LABELS, 64, seed=3, epoch=2, stations=STATIONS))
  assert not np.array_equal(order, balanced_epoch_order(LABELS, 64, seed=3, epoch=3, stations=STATIONS))
  # without stations the class-balanced order of before, draw for draw
  class_only = balanced_epoch_order(LABELS, 64, seed=3, epoch=2)
  reference = (1.0 / (2 * np.array([90, 10])))[LABELS]
  expected = np.random.default_rng([3, 2, 1]).choice(100, 64, p=reference / reference.sum())
  np.testing.assert_array_equal(class_only, expected)


def test_stations_must_align_with_labels():
  with pytest.raises(ValueError, match='one station per record'):
    sampling_weights(LABELS, STATIONS[:-1])


def _records(with_stations: bool):
  records = make_synthetic(num_events=4, seed=0, samples=64)
  if not with_stations:
    return records
  n = len(records)
  extra = {**records.extra, 'network': np.array(['UW'] * n), 'station': np.array([f'S{i % 3}' for i in range(n)])}
  return dataclasses.replace(records, extra=extra)


def test_station_keys_come_from_the_manifest_columns():
  keys = station_keys(_records(True))
  assert keys[0] == 'UW.S0' and keys[1] == 'UW.S1'
  with pytest.raises(KeyError, match="no 'network' column"):
    station_keys(_records(False))


def test_station_balanced_sampling_without_stations_is_refused_at_start(tmp_path):
  records = _records(False)
  config = ExperimentConfig(station_balanced_sampling=True, batch_size=2)
  with pytest.raises(ConfigError, match=r"^--config.station_balanced_sampling: .*no 'network' column"):
    experiment.run(config, records, records, tmp_path, log=lambda line: None)
  assert not (tmp_path / 'config.json').exists()  # refused before the run folder is written
  experiment.check_records(config, _records(True))
