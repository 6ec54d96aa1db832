"""Data: the record set every part of the library exchanges, its on-disk form, splits and training-set sampling.

The names below load on first use: importing one module of the package (``records``,
``record_array``) does not import the splits, the picker or ObsPy's signal package,
which itself loads matplotlib's pyplot.
"""

import importlib

_EXPORTS = {
    **{name: 'ganet_jax.data.augment' for name in ('add_noise', 'oversample_minority', 'time_shift')},
    **{name: 'ganet_jax.data.imbalance' for name in ('strategy1_sets', 'strategy2_counts', 'strategy2_sets')},
    **{name: 'ganet_jax.data.records' for name in ('RecordSet', 'load_prepared', 'save_prepared')},
    **{name: 'ganet_jax.data.splits' for name in ('chronological_split', 'event_grouped_random_split',
                                                   'forward_folds', 'station_folds')},
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
  if name not in _EXPORTS:
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
  value = getattr(importlib.import_module(_EXPORTS[name]), name)
  globals()[name] = value
  return value


def __dir__():
  return sorted(list(globals()) + __all__)
