"""Data: the record set every part of the library exchanges, its on-disk form, splits and training-set sampling."""

from ganet_jax.data.augment import add_noise, oversample_minority, time_shift
from ganet_jax.data.imbalance import strategy1_sets, strategy2_counts, strategy2_sets
from ganet_jax.data.records import RecordSet, load_prepared, save_prepared
from ganet_jax.data.splits import chronological_split, event_grouped_random_split, forward_folds, station_folds

__all__ = ['RecordSet', 'add_noise', 'chronological_split', 'event_grouped_random_split', 'forward_folds',
           'load_prepared', 'oversample_minority', 'save_prepared', 'station_folds', 'strategy1_sets',
           'strategy2_counts', 'strategy2_sets', 'time_shift']
