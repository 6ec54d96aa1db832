"""Records prepared for a classifier's members exactly as their training records were.

Every record goes through ``ingest.prepare_record``, the very function that made the
training windows, with the window length taken from the members' input shape and the
signal chain (rate, detrend, band-pass, picker) from the settings their training set
recorded. Labels are not needed: a given event type or label is kept for the output
but never decides anything.

What the members cannot see is refused, never silently classified: a record whose
input rate cannot carry the band the members read (``needed_band``: the band-pass
of their training records, or a physics member's feature bands; ``check_input_rate``)
or that lacks the components they need (``check_prepared``); arrays are checked in
``inputs``. A network trained without a band-pass states no band: its records need
only the training set's ``min_sampling_rate``.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple, Sequence

from absl import logging
import numpy as np

from ganet_jax import conventions
from ganet_jax.classify.members import Member
from ganet_jax.data import prepare_settings, preprocess, record_checks
from ganet_jax.data.ingest import PrepareOptions, PreparedRecord
from ganet_jax.evaluation.physics import FeatureModel
from ganet_jax.errors import RecordRejected


def options_for(member: Member, options: PrepareOptions | None = None) -> PrepareOptions:
  """Preparation options that make the windows ``member`` was trained on.

  Args:
    member: a member (an ensemble's members share what this reads: ``members.check_members``).
    options: the caller's options (distance limit, padding...); their window length,
      rate, detrend, band-pass and picker are replaced by the training set's
      (``prepare_settings.options_from_settings``).

  Returns:
    The options, unlabeled: classification must not depend on (or be refused for)
    a missing or unknown event type.

  Raises:
    ValueError: the member's preprocessing settings cannot be rebuilt.
  """
  samples, _ = member.input_shape
  # The training records' signal chain (rate, detrend, band-pass, picker), where the run recorded it.
  options = prepare_settings.options_from_settings(member.preprocessing, options or PrepareOptions())
  preprocess = dataclasses.replace(options.preprocess, window_s=samples / options.preprocess.sampling_rate)
  return dataclasses.replace(options, preprocess=preprocess, unlabeled=True)


def keep_components(waveforms: np.ndarray, components: str) -> np.ndarray:
  """``waveforms`` (..., 3) with the components not in ``components`` zero-filled.

  A model trained on vertical-only records (N and E zero-filled: 'channel dropout')
  should see 3-component records as it saw its training records: ``components='Z'``.

  Raises:
    ValueError: for a component letter outside ``conventions.COMPONENT_ORDER``.
  """
  check_components(components)
  kept = np.array(waveforms, np.float32, copy=True)
  for slot, name in enumerate(conventions.COMPONENT_ORDER):
    if name not in components:
      kept[..., slot] = 0.0
  return kept


def check_components(components: str) -> None:
  """Raises ValueError unless ``components`` is a non-empty set of letters of ``conventions.COMPONENT_ORDER``."""
  unknown = set(components) - set(conventions.COMPONENT_ORDER)
  if unknown or not components:
    raise ValueError(f'components {components!r}: use letters of {conventions.COMPONENT_ORDER!r}')


class NeededBand(NamedTuple):
  """The highest frequency a classifier's records must hold, and what states it (for messages)."""
  high: float
  stated_by: str


def needed_band(members: Sequence[Member], config: preprocess.PreprocessConfig) -> NeededBand | None:
  """The band the members read: their training records' band-pass, or a physics member's feature bands.

  Returns:
    The highest of them, or None when nothing states a band (a network trained
    without a band-pass).
  """
  needs = []
  if config.bandpass:
    needs.append(NeededBand(config.bandpass[1], f'the model\'s band-pass {config.bandpass[0]:g}-'
                                                f'{config.bandpass[1]:g} Hz'))
  for member in members:
    if isinstance(member.model, FeatureModel):
      needs.append(NeededBand(member.model.highest_frequency, f'the model\'s features, which read up to '
                                                              f'{member.model.highest_frequency:g} Hz '
                                                              f'({member.model.feature_set})'))
  return max(needs) if needs else None


def check_input_rate(prepared: PreparedRecord, band: NeededBand | None, components: str) -> None:
  """Refuses a record recorded at a rate whose Nyquist frequency lies below the band the members read.

  Such a record is resampled to the members' rate without complaint, but the upper part
  of the band they were trained on is empty in it: it would be classified on a signal
  unlike any they saw. Only the components the members see count.

  Raises:
    RecordRejected: naming the input rate, its Nyquist frequency and the band.
  """
  if band is None:
    return
  channels = prepared.extra.get('channels', '').split(';')
  rates = prepared.extra.get('sampling_rate_in', '').split(';')
  for channel, text in zip(channels, rates):
    slot = preprocess.component_slot(channel)
    if slot is None or conventions.COMPONENT_ORDER[slot] not in components or not text:
      continue
    rate = float(text)
    if rate / 2 < band.high:
      raise RecordRejected(f'input rate {rate:g} Hz: Nyquist {rate / 2:g} Hz is below {band.stated_by}; '
                           f'records of at least {2 * band.high:g} Hz only')


def check_prepared(prepared: PreparedRecord, band: NeededBand | None, components: str) -> PreparedRecord:
  """``prepared``, unless it lacks what the model needs (``record_checks.require_components``) or the
  members cannot see it (``check_input_rate``).

  Raises:
    RecordRejected: naming the missing components or the input rate.
  """
  record_checks.require_components(prepared.extra['channels_present'], components)
  check_input_rate(prepared, band, components)
  return prepared


def warn_unchecked_distances(prepared: Sequence[PreparedRecord], limit: float | None) -> None:
  """One warning for the records whose distance limit could not be checked (no distance, no coordinates)."""
  unknown = sum(1 for ready in prepared if not ready.extra.get('distance_km'))
  if limit is not None and unknown:
    logging.warning('%d of %d records have no epicentral distance (no distance_km, and the event\'s and the '
                    'station\'s coordinates are not both in the table, catalog, inventory or SAC headers): the '
                    '%g km distance limit was not checked for them', unknown, len(prepared), limit)
