"""Confound controls: how well a trivial predictor from the station, the instrument or the era alone does.

A network trained on a few dozen events can score by learning who recorded an
event, with what, or when, rather than what the source was: in the PNW sets most
earthquake records come from 50-Hz broadband stations and most explosion records
from 100-Hz short-period ones, and pnw-extra's explosions cluster in 2012-2017.
A lookup table fitted on the training records, P(tectonic | key), shows how far
such a shortcut alone gets on the test records; a network worth trusting must beat it.

Three more controls take plain arrays, are fitted on training records and return
P(tectonic) of validation records in [0, 1], ready for ``metrics`` and ``intervals``:

  station_novelty_control  new explosions happen at new places, recorded by stations a
                           model never saw: "unseen station" alone predicts non-tectonic.
  magnitude_control        in pnw explosions are larger (median M 1.38 against 0.62).
  snr_control              the signal-to-noise level follows the magnitude.
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

from ganet_jax.conventions import TECTONIC
from ganet_jax.data.records import RecordSet, station_keys
from ganet_jax.evaluation.physics import fit_logistic


def _column(records: RecordSet, name: str) -> np.ndarray:
  if name not in records.extra:
    raise KeyError(f'the records have no {name!r} column (manifest columns: {", ".join(records.extra)})')
  return np.asarray(records.extra[name], dtype=str)


def station_key(records: RecordSet) -> np.ndarray:
  """Network.station of every record (``data.records.station_keys``)."""
  return station_keys(records)


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


def station_novelty_control(train_stations, validation_stations) -> np.ndarray:
  """P(tectonic) = 1 for a validation record at a station seen in training, 0 at an unseen one.

  Not fitted beyond the set of training stations: the orientation is the hypothesis
  under test (an unseen station means a non-tectonic source). Its AUC is how far
  novelty alone ranks the classes; a method should beat it.

  Args:
    train_stations: station keys of the training records (e.g. 'UW.BHW').
    validation_stations: (n,) station keys of the validation records.

  Returns:
    (n,) float64 of 0.0 (unseen: called non-tectonic) and 1.0 (seen: called tectonic).
  """
  seen = np.isin(np.asarray(validation_stations, dtype=str), np.unique(np.asarray(train_stations, dtype=str)))
  return seen.astype(np.float64)


def _one_value_control(name: str, train_values, train_labels, validation_values) -> np.ndarray:
  """P(tectonic) from one number per record: a balanced logistic regression fitted on training records.

  The sign of the fitted weight orients the control (whether larger values mean tectonic
  is learnt from training, never from validation), and class balancing puts its 0.5
  threshold where the training classes are told apart best by one cut. Records without a
  value (NaN) are left out of the fit and get 0.5 (no information).
  """
  train_values, validation_values = np.asarray(train_values, np.float64), np.asarray(validation_values, np.float64)
  train_labels = np.asarray(train_labels)
  if len(train_values) != len(train_labels):
    raise ValueError(f'{len(train_values)} training {name} values for {len(train_labels)} labels: one per record')
  known = ~np.isnan(train_values)
  if len(np.unique(train_labels[known])) < 2:
    raise ValueError(f'the {name} control needs training records of both classes with a {name} value')
  model = fit_logistic(train_values[known][:, None], train_labels[known])
  missing = np.isnan(validation_values)
  p_tectonic = model.p_tectonic(np.where(missing, 0.0, validation_values)[:, None])
  return np.where(missing, 0.5, p_tectonic)


def magnitude_control(train_magnitudes, train_labels, validation_magnitudes) -> np.ndarray:
  """P(tectonic) of validation records from their event's magnitude alone, oriented by training.

  Args:
    train_magnitudes: (m,) magnitude of each training record's event (NaN where unknown).
    train_labels: (m,) 0 tectonic / 1 non-tectonic.
    validation_magnitudes: (n,) magnitudes of the validation records' events.

  Returns:
    (n,) P(tectonic) in [0, 1]; 0.5 where the magnitude is unknown.

  Raises:
    ValueError: if training lacks a class among records with a magnitude.
  """
  return _one_value_control('magnitude', train_magnitudes, train_labels, validation_magnitudes)


def _log_snr(snr, which: str) -> np.ndarray:
  snr = np.asarray(snr, np.float64)
  bad = snr <= 0
  if bad.any():
    raise ValueError(f'signal-to-noise ratios must be > 0 (NaN where unknown); {which} record '
                     f'{int(np.flatnonzero(bad)[0])} has {snr[bad][0]}')
  return np.log10(snr)


def snr_control(train_snr, train_labels, validation_snr) -> np.ndarray:
  """P(tectonic) of validation records from their signal-to-noise ratio alone, oriented by training.

  The ratio spans decades, so the control works on its log10.

  Args:
    train_snr: (m,) positive signal-to-noise ratio of each training record (NaN where unknown).
    train_labels: (m,) 0 tectonic / 1 non-tectonic.
    validation_snr: (n,) ratios of the validation records.

  Returns:
    (n,) P(tectonic) in [0, 1]; 0.5 where the ratio is unknown.

  Raises:
    ValueError: for a ratio <= 0, or training without both classes.
  """
  return _one_value_control('signal-to-noise', _log_snr(train_snr, 'training'), train_labels,
                            _log_snr(validation_snr, 'validation'))
