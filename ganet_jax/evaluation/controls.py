"""Confound controls: how well a trivial predictor from the station, the instrument or the era alone does.

A network trained on a few dozen events can score by learning who recorded an
event, with what, or when, rather than what the source was: in the PNW sets most
earthquake records come from 50-Hz broadband stations and most explosion records
from 100-Hz short-period ones, and pnw-extra's explosions cluster in 2012-2017.
A lookup table fitted on the training records, P(tectonic | key), shows how far
such a shortcut alone gets on the test records; a network worth trusting must beat it.
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

from ganet_jax.conventions import TECTONIC
from ganet_jax.data.records import RecordSet


def _column(records: RecordSet, name: str) -> np.ndarray:
  if name not in records.extra:
    raise KeyError(f'the records have no {name!r} column (manifest columns: {", ".join(records.extra)})')
  return np.asarray(records.extra[name], dtype=str)


def station_key(records: RecordSet) -> np.ndarray:
  """Network.station of every record."""
  return np.char.add(np.char.add(_column(records, 'network'), '.'), _column(records, 'station'))


def instrument_key(records: RecordSet) -> np.ndarray:
  """Band and instrument code of the channel (e.g. 'BH', 'EH', 'HH') and the input sampling rate."""
  codes = np.array([c[:2] for c in _column(records, 'channels')])
  return np.char.add(np.char.add(codes, '@'), _column(records, 'sampling_rate_in'))


def era_key(records: RecordSet) -> np.ndarray:
  """The origin year."""
  return np.asarray(records.origin_times, 'datetime64[Y]').astype(str)


KEYS: Mapping[str, Callable[[RecordSet], np.ndarray]] = {
    'station': station_key, 'instrument': instrument_key, 'era': era_key}


def lookup_predictor(train_keys, train_labels) -> Callable[[np.ndarray], np.ndarray]:
  """P(tectonic | key) from training records, Laplace-smoothed; an unseen key gets the training prior.

  Returns:
    A function from (n,) keys to (n,) probabilities of tectonic.
  """
  train_keys, tectonic = np.asarray(train_keys, dtype=str), np.asarray(train_labels) == TECTONIC
  prior = (tectonic.sum() + 1) / (len(tectonic) + 2)
  table = {key: (tectonic[train_keys == key].sum() + 1) / ((train_keys == key).sum() + 2)
           for key in np.unique(train_keys)}
  return lambda keys: np.array([table.get(str(k), prior) for k in keys], np.float64)


def control_probabilities(train: RecordSet, test: RecordSet) -> dict[str, np.ndarray]:
  """{key name: P(tectonic) of every test record from that key alone}, fitted on ``train``."""
  return {name: lookup_predictor(key(train), train.labels)(key(test)) for name, key in KEYS.items()}
