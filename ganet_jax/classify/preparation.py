"""Records prepared for a classifier's members exactly as their training records were.

Every record goes through ``ingest.prepare_record``, the very function that made the
training windows, with the window length taken from the members' input shape and the
signal chain (rate, detrend, band-pass, picker) from the settings their training set
recorded. Labels are not needed: a given event type or label is kept for the output
but never decides anything.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ganet_jax import conventions
from ganet_jax.classify.members import Member
from ganet_jax.data import ingest
from ganet_jax.data.ingest import PrepareOptions


def options_for(member: Member, options: PrepareOptions | None = None) -> PrepareOptions:
  """Preparation options that make the windows ``member`` was trained on.

  Args:
    member: a member (an ensemble's members share what this reads: ``members.check_members``).
    options: the caller's options (distance limit, padding...); their window length,
      rate, detrend, band-pass and picker are replaced by the training set's
      (``ingest.options_from_settings``).

  Returns:
    The options, unlabeled: classification must not depend on (or be refused for)
    a missing or unknown event type.

  Raises:
    ValueError: the member's preprocessing settings cannot be rebuilt.
  """
  samples, _ = member.input_shape
  # The training records' signal chain (rate, detrend, band-pass, picker), where the run recorded it.
  options = ingest.options_from_settings(member.preprocessing, options or PrepareOptions())
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
