"""Arrays given to a classifier, refused unless its members can take them.

Windows (and pre-event noise) whose shape, rate, preprocessing or values differ from
the members' training windows are refused with what was expected, never classified.
Masked samples (a masked array) are gaps, under the rule of gaps in files: a gap
longer than the members' ``max_gap_s`` is refused, shorter ones are filled by linear
interpolation. A window without signal in the components the members need (all
zeros, constant, a vertical left empty by a component-order mistake) is refused as
the record path refuses such a record (``record_checks.require_components``).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from ganet_jax import conventions
from ganet_jax.classify.members import Member
from ganet_jax.data import prepare_settings
from ganet_jax.data import record_checks
from ganet_jax.data.preprocess import PreprocessConfig
from ganet_jax.data.records import RecordSet
from ganet_jax.errors import RecordRejected
from ganet_jax.json_settings import as_tuples


def filled_gaps(windows: np.ma.MaskedArray, max_gap_s: float, sampling_rate: float, what: str) -> np.ndarray:
  """(n, samples, channels) masked windows with their masked samples interpolated linearly along time.

  Raises:
    ValueError: a run of masked samples longer than ``max_gap_s`` (naming the window,
      component and time), or a component masked throughout.
  """
  data = np.array(np.ma.getdata(windows), np.float64)
  mask = np.broadcast_to(np.ma.getmaskarray(windows), data.shape)
  if data.ndim != 3:
    return data
  limit = int(np.floor(max_gap_s * sampling_rate + 1e-9))
  samples = np.arange(data.shape[1])
  for index, slot in zip(*np.nonzero(mask.any(axis=1))):
    masked = mask[index, :, slot]
    name = f'{what} {index} (of {len(data)}), component {conventions.COMPONENT_ORDER[slot]}'
    if masked.all():
      raise ValueError(f'{name}: every sample is masked: nothing to classify')
    edges = np.flatnonzero(np.diff(np.concatenate([[0], masked.astype(np.int8), [0]])))
    runs = edges[1::2] - edges[::2]
    longest = int(np.argmax(runs))
    if runs[longest] > limit:
      raise ValueError(f'{name}: a gap of {runs[longest]} masked samples ({runs[longest] / sampling_rate:g} s) at '
                       f'{edges[::2][longest] / sampling_rate:g} s into the window (> {max_gap_s:g} s, the '
                       'max_gap_s of the model\'s preprocessing): a window with such a gap is refused, as a '
                       'record with one is')
    data[index, masked, slot] = np.interp(samples[masked], samples[~masked], data[index, ~masked, slot])
  return data


def check_signal(windows: np.ndarray, components: str, what: str = 'windows') -> None:
  """Refuses windows without signal in the components a model needs (``record_checks.require_components``).

  A component is without signal when every sample is equal (all zeros, a constant),
  by the record path's flat rule.

  Raises:
    ValueError: naming the first such window, with the record path's reason.
  """
  centred = windows - windows.mean(axis=1, keepdims=True)
  live = centred.std(axis=1) > conventions.EPSILON * np.maximum(1.0, np.abs(windows).max(axis=1))
  empty = [index for index, row in enumerate(live) if not record_checks.needed_present(row, components)]
  if not empty:
    return
  present = ''.join(c for c, alive in zip(conventions.COMPONENT_ORDER, live[empty[0]]) if alive)
  try:
    record_checks.require_components(present, components)
  except RecordRejected as error:
    raise ValueError(f'{what} {empty[0]} (of {len(windows)}; {len(empty)} in all): {error}') from None


def check_windows(windows, input_shape: tuple[int, int], sampling_rate: float, *, what: str = 'windows',
                  given_rate: float | None = None, max_gap_s: float = 0.0) -> np.ndarray:
  """``windows`` as a float32 (n, samples, channels) array, refused unless the members can take it.

  Args:
    windows: the caller's windows.
    input_shape: (samples, channels) the members take.
    sampling_rate: the rate of their training windows, Hz.
    what: the argument's name, for messages ('windows', 'noise').
    given_rate: the windows' rate where the caller knows it (a ``RecordSet``'s
      preprocessing, or an argument).
    max_gap_s: the longest run of masked samples filled (``filled_gaps``).

  Returns:
    The windows as float32.

  Raises:
    ValueError: a shape other than (n, samples, channels), a rate other than the
      members', NaN/inf samples or a gap longer than ``max_gap_s``, saying what was expected.
  """
  samples, channels = input_shape
  expected = (f'(n, {samples}, {channels}) {what} ({samples / sampling_rate:g} s at {sampling_rate:g} Hz, '
              f'components {conventions.COMPONENT_ORDER})')
  if np.ma.isMaskedArray(windows):
    windows = filled_gaps(windows, max_gap_s, sampling_rate, what)
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
                   needs_noise: bool, source: str, components: str = conventions.COMPONENT_ORDER
                   ) -> tuple[np.ndarray, np.ndarray | None]:
  """The windows and noise as arrays, refused unless the members can take them.

  Args:
    windows: (n, samples, 3) windows, or a ``RecordSet`` (its rate, preprocessing and noise are checked and used).
    noise: (n, noise samples, 3) pre-event noise of the windows, or None.
    sampling_rate: the windows' rate in Hz, when known.
    member: a member (the members agree on what this reads: ``members.check_members``).
    config: the members' preparation settings (``preparation.options_for``).
    needs_noise: whether a member takes the pre-event noise (else it is not checked, and None is returned).
    source: the members' source, for messages.
    components: the components the members see (``check_signal``).

  Returns:
    (float32 windows, float32 noise or None).

  Raises:
    ValueError: windows of another shape, rate or preprocessing, NaN/inf samples,
      a gap (masked samples) longer than ``config.max_gap_s``, no signal in the
      components the members need, or missing noise a member needs, saying what was expected.
  """
  if isinstance(windows, RecordSet):
    if windows.preprocessing:
      check_preprocessing(windows.preprocessing, member.preprocessing)
      sampling_rate = windows.sampling_rate if sampling_rate is None else sampling_rate
    noise = windows.noise if noise is None else noise
    windows = windows.waveforms
  windows = check_windows(windows, member.input_shape, config.sampling_rate, given_rate=sampling_rate,
                          max_gap_s=config.max_gap_s)
  check_signal(windows, components)
  if not needs_noise:
    return windows, None
  if noise is None:
    raise ValueError(f'{source}: a member is a noise-referenced physics model: pass the windows\' '
                     f'pre-event noise (noise=, or a RecordSet prepared with noise_s={config.noise_s:g})')
  noise = check_windows(noise, (config.noise_samples, len(conventions.COMPONENT_ORDER)),
                        config.sampling_rate, what='noise', given_rate=sampling_rate, max_gap_s=config.max_gap_s)
  if len(noise) != len(windows):
    raise ValueError(f'{len(noise)} noise segments for {len(windows)} windows: one per window')
  return windows, noise
