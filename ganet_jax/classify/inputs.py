"""Arrays given to a classifier, refused unless its members can take them.

Windows (and pre-event noise) whose shape, rate, preprocessing or values differ from
the members' training windows are refused with what was expected, never classified.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from ganet_jax import conventions
from ganet_jax.classify.members import Member
from ganet_jax.data import prepare_settings
from ganet_jax.data.preprocess import PreprocessConfig
from ganet_jax.data.records import RecordSet
from ganet_jax.json_settings import as_tuples


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
  same_ours, same_theirs = as_tuples(ours), as_tuples(theirs)
  differ = [f'{name} {theirs[name]!r} (the model\'s: {ours[name]!r})' for name in ours
            if same_ours[name] != same_theirs[name]]
  if differ:
    raise ValueError(f'the records were prepared otherwise than the model\'s training records: {"; ".join(differ)}; '
                     'prepare them with the model\'s settings (its preprocess.json)')


def checked_inputs(windows, noise, sampling_rate: float | None, member: Member, config: PreprocessConfig, *,
                   needs_noise: bool, source: str) -> tuple[np.ndarray, np.ndarray | None]:
  """The windows and noise as arrays, refused unless the members can take them.

  Args:
    windows: (n, samples, 3) windows, or a ``RecordSet`` (its rate, preprocessing and noise are checked and used).
    noise: (n, noise samples, 3) pre-event noise of the windows, or None.
    sampling_rate: the windows' rate in Hz, when known.
    member: a member (the members agree on what this reads: ``members.check_members``).
    config: the members' preparation settings (``preparation.options_for``).
    needs_noise: whether a member takes the pre-event noise (else it is not checked, and None is returned).
    source: the members' source, for messages.

  Returns:
    (float32 windows, float32 noise or None).

  Raises:
    ValueError: windows of another shape, rate or preprocessing, NaN/inf samples,
      or missing noise a member needs, saying what was expected.
  """
  if isinstance(windows, RecordSet):
    if windows.preprocessing:
      check_preprocessing(windows.preprocessing, member.preprocessing)
      sampling_rate = windows.sampling_rate if sampling_rate is None else sampling_rate
    noise = windows.noise if noise is None else noise
    windows = windows.waveforms
  windows = check_windows(windows, member.input_shape, config.sampling_rate, given_rate=sampling_rate)
  if not needs_noise:
    return windows, None
  if noise is None:
    raise ValueError(f'{source}: a member is a noise-referenced physics model: pass the windows\' '
                     f'pre-event noise (noise=, or a RecordSet prepared with noise_s={config.noise_s:g})')
  noise = check_windows(noise, (config.noise_samples, len(conventions.COMPONENT_ORDER)),
                        config.sampling_rate, what='noise', given_rate=sampling_rate)
  if len(noise) != len(windows):
    raise ValueError(f'{len(noise)} noise segments for {len(windows)} windows: one per window')
  return windows, noise
