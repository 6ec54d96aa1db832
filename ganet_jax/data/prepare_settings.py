"""The settings that shape a prepared set's windows (its ``preprocess.json``), and reading them back.

``settings`` writes them when a set is prepared; ``options_from_settings`` turns
them back into ``ingest.PrepareOptions``, so records prepared later (e.g. by a
classifier) go through the same signal chain as the training records.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Mapping

from ganet_jax.data import picking
from ganet_jax.data.ingest import PrepareOptions
from ganet_jax.data.preprocess import PreprocessConfig
from ganet_jax.json_settings import as_tuples


# PreprocessConfig fields that shape a window (the others select records).
SIGNAL_SETTINGS = ('sampling_rate', 'detrend_degree', 'bandpass', 'noise_s', 'noise_gap_s', 'normalization')
# Signal settings a preprocess.json written before they existed lacks: it was made with their defaults.
LATER_SIGNAL_SETTINGS = ('noise_s', 'noise_gap_s', 'normalization')


def settings(options: PrepareOptions) -> dict[str, object]:
  """The options that shape a window, JSON-ready: a prepared set's preprocess.json.

  ``options_from_settings`` reads them back, so records prepared later (e.g. by a
  classifier) go through the same signal chain as the training records.
  """
  return json.loads(json.dumps({'preprocess': dataclasses.asdict(options.preprocess),
                                'picker': dataclasses.asdict(options.picker), 'p_fallback': options.p_fallback}))


def options_from_settings(saved: Mapping[str, object] | None, options: PrepareOptions) -> PrepareOptions:
  """``options`` with the signal chain (rate, detrend, band-pass, picker) of ``saved`` settings.

  The record-selection limits of ``options`` (distance, gaps, padding, fallback) stay
  the caller's: they decide which records are classified, not what a window looks like.

  Raises:
    ValueError: when ``saved`` holds settings this version cannot rebuild.
  """
  if not saved:
    return options
  try:
    signal = signal_settings(saved['preprocess'])
    band = signal['bandpass']
    signal['bandpass'] = tuple(band) if band else None
    picker = picking.PickerConfig(**as_tuples(saved['picker']))
    config = dataclasses.replace(options.preprocess, **signal)
  except (AttributeError, KeyError, TypeError, ValueError) as error:
    raise ValueError(f'unusable preprocessing settings {saved}: {type(error).__name__}: {error}') from None
  return dataclasses.replace(options, preprocess=config, picker=picker)


def signal_settings(saved: Mapping[str, object]) -> dict[str, object]:
  """The ``SIGNAL_SETTINGS`` of saved preprocess settings (None where absent), those added later
  (``LATER_SIGNAL_SETTINGS``) at the defaults that made the windows before they existed."""
  defaults = PreprocessConfig()
  return {name: saved.get(name, getattr(defaults, name) if name in LATER_SIGNAL_SETTINGS else None)
          for name in SIGNAL_SETTINGS}
