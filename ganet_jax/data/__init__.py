"""Data: the record set every part of the library exchanges, its on-disk form, splits and training-set sampling.

The names below load on first use: importing one module of the package (``records``,
``record_array``) does not import the splits, the picker or ObsPy's signal package,
which itself loads matplotlib's pyplot.
"""

from ganet_jax.lazy_loading import lazy_exports as _lazy_exports

_EXPORTS = {
    **{name: 'ganet_jax.data.augment' for name in ('add_noise', 'oversample_minority', 'time_shift')},
    **{name: 'ganet_jax.data.imbalance' for name in ('strategy1_sets', 'strategy2_counts', 'strategy2_sets')},
    **{name: 'ganet_jax.data.records' for name in ('RecordSet', 'load_prepared', 'save_prepared')},
    **{name: 'ganet_jax.data.splits' for name in ('chronological_split', 'event_grouped_random_split',
                                                   'forward_folds', 'station_folds')},
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = _lazy_exports(globals(), _EXPORTS)
