"""Records prepared for a classifier's members exactly as their training records were.

Every record goes through ``ingest.prepare_record``, the very function that made the
training windows, with the window length taken from the members' input shape and the
signal chain (rate, detrend, band-pass, picker) from the settings their training set
recorded. Labels are not needed: a given event type or label is kept for the output
but never decides anything.

What the members cannot see is refused, never silently classified: a record whose
input rate cannot carry the band the members were trained on (``check_input_rate``),
and arrays whose shape, rate or values differ from their training windows
(``check_windows``).
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

import numpy as np

from ganet_jax import conventions
from ganet_jax.classify.members import Member
from ganet_jax.data import prepare_settings, preprocess
from ganet_jax.data.ingest import PrepareOptions, PreparedRecord
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


def check_input_rate(prepared: PreparedRecord, config: preprocess.PreprocessConfig, components: str) -> None:
  """Refuses a record recorded at a rate whose Nyquist frequency lies below the members' band-pass.

  Such a record is resampled to the members' rate without complaint, but the upper part
  of the band they were trained on is empty in it: it would be classified on a signal
  unlike any they saw. Only the components the members see count.

  Raises:
    RecordRejected: naming the input rate, its Nyquist frequency and the band.
  """
  if not config.bandpass:
    return
  low, high = config.bandpass
  channels = prepared.extra.get('channels', '').split(';')
  rates = prepared.extra.get('sampling_rate_in', '').split(';')
  for channel, text in zip(channels, rates):
    slot = preprocess.component_slot(channel)
    if slot is None or conventions.COMPONENT_ORDER[slot] not in components or not text:
      continue
    rate = float(text)
    if rate / 2 < high:
      raise RecordRejected(f'input rate {rate:g} Hz: Nyquist {rate / 2:g} Hz is below the model\'s band-pass '
                           f'{low:g}-{high:g} Hz')


def check_windows(windows, input_shape: tuple[int, int], sampling_rate: float, *, what: str = 'windows',
                  given_rate: float | None = None) -> np.ndarray:
  """``windows`` as a float32 (n, samples, channels) array, refused unless the members can take it.

  Args:
    windows: the caller's windows.
    input_shape: (samples, channels) the members take.
    sampling_rate: the rate of their training windows, Hz.
    what: the argument's name, for messages ('windows', 'noise').
    given_rate: the windows' rate where the caller knows it (a ``RecordSet``'s
      preprocessing, or an argument).

  Returns:
    The windows as float32.

  Raises:
    ValueError: a shape other than (n, samples, channels), a rate other than the
      members', or NaN/inf samples, saying what was expected.
  """
  samples, channels = input_shape
  expected = (f'(n, {samples}, {channels}) {what} ({samples / sampling_rate:g} s at {sampling_rate:g} Hz, '
              f'components {conventions.COMPONENT_ORDER})')
  try:
    array = np.asarray(windows, np.float32)
  except (TypeError, ValueError) as error:
    raise ValueError(f'{what}: not a numeric array ({error}); expected {expected}') from None
  if given_rate is not None and float(given_rate) != float(sampling_rate):
    raise ValueError(f'{what} at {float(given_rate):g} Hz: the model takes {sampling_rate:g} Hz windows; '
                     f'prepare the records at {sampling_rate:g} Hz (expected {expected})')
  if array.ndim == 2 and array.shape == (samples, channels):
    raise ValueError(f'{what} of shape {array.shape}: one window without the batch axis; expected {expected} '
                     f'(pass {what}[None])')
  if array.ndim != 3 or array.shape[1:] != (samples, channels):
    raise ValueError(f'{what} of shape {array.shape}: expected {expected}')
  bad = ~np.isfinite(array).all(axis=(1, 2))
  if bad.any():
    raise ValueError(f'{what} {int(np.flatnonzero(bad)[0])} (of {len(array)}; {int(bad.sum())} in all) holds NaN '
                     f'or inf samples: a probability of it would mean nothing')
  return array


def check_preprocessing(given: Mapping | None, trained: Mapping | None) -> None:
  """Refuses windows prepared with other signal settings than the members' training windows.

  Args:
    given: the windows' preprocessing settings (``RecordSet.preprocessing``), None when unknown.
    trained: the members' training set's, None when unknown.

  Raises:
    ValueError: naming each setting that differs, with both values.
  """
  if not given or not trained:
    return
  ours = prepare_settings.signal_settings(trained.get('preprocess', {}))
  theirs = prepare_settings.signal_settings(given.get('preprocess', {}))
  normalise = lambda v: tuple(v) if isinstance(v, list) else v
  differ = [f'{name} {theirs[name]!r} (the model\'s: {ours[name]!r})' for name in ours
            if normalise(ours[name]) != normalise(theirs[name])]
  if differ:
    raise ValueError(f'the records were prepared otherwise than the model\'s training records: {"; ".join(differ)}; '
                     'prepare them with the model\'s settings (its preprocess.json)')
