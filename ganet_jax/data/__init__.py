"""Data: the record set every part of the library exchanges, its on-disk form, and splits."""

from ganet_jax.data.records import RecordSet, load_prepared, save_prepared
from ganet_jax.data.splits import chronological_split, event_grouped_random_split
