"""The data set a run's config names, split chronologically: what every binary trains and tests on.

A config (``experiments/configs/paper.py``) gives ``dataset`` ('synthetic' or a
prepared folder), ``synthetic`` (num_events, samples, seed) and ``split`` (by:
None, 'split_column' or 'origin_time'; validation_from or None, test_from). A prepared
set's own split column is used when it has one, unless ``split.by`` says
'origin_time'. Errors name the config field as the command line gives it
(``--config.dataset``, ``--config.split.test_from``).
"""

from __future__ import annotations

import hashlib
import pathlib
from typing import Any, Callable, NamedTuple

from absl import logging
import numpy as np

from ganet_jax.conventions import UNLABELED
from ganet_jax.data.records import MANIFEST_FILE, RecordSet, load_prepared
from ganet_jax.data.splits import chronological_split
from ganet_jax.data.synthetic import make_synthetic
from ganet_jax.errors import ConfigError


SPLIT_COLUMN = 'split'  # the prepared set's column of experiments.prepare --split_boundaries / --random_split
SPLIT_BY = ('split_column', 'origin_time')
COLUMN_SPLITS = ('train', 'validation', 'test')
# A split column's other names for them: SeisBench calls its validation split 'dev'.
SPLIT_ALIASES = {'dev': 'validation'}


class Split(NamedTuple):
  """Train < validation_from <= validation < test_from <= test, by event origin time."""
  train: RecordSet
  validation: RecordSet | None  # None without split.validation_from
  test: RecordSet


def load_records(config) -> RecordSet:
  """The records of ``config.dataset``: the synthetic set or a prepared folder.

  Raises:
    ConfigError: naming ``--config.dataset`` (not a folder, no manifest, ...).
  """
  if config.dataset == 'synthetic':
    return make_synthetic(config.synthetic.num_events, seed=config.synthetic.seed,
                          samples=config.synthetic.samples)
  if not pathlib.Path(config.dataset).is_dir():
    raise ConfigError('dataset', f"{config.dataset}: not 'synthetic' and not a folder")
  try:
    return load_prepared(config.dataset)
  except (FileNotFoundError, ValueError) as error:
    raise ConfigError('dataset', f'{config.dataset}: {error}') from error


def load_split(config, *, log: Callable[[str], None] = logging.info) -> Split:
  """``config.dataset`` split into train, optional validation and test records; no split may be empty.

  Which split applies (``split_by``): a prepared set's own ``split`` column (written
  by ``experiments.prepare --split_boundaries`` or ``--random_split``) when it has one,
  unless ``config.split.by`` is 'origin_time'; else the chronological split at
  ``config.split``'s times. The split used is logged.

  Raises:
    ConfigError: naming ``--config.dataset`` or ``--config.split.<field>``.
  """
  records = load_records(config)
  if np.any(records.labels == UNLABELED):
    raise ConfigError('dataset', f'{config.dataset}: {int(np.sum(records.labels == UNLABELED))} records have no '
                      f'label (prepared with --unlabeled); such a pool is for experiments.pretrain, not training')
  if split_by(config, records) == 'split_column':
    index, how = column_split(records, config.dataset), f"the prepared set's split column ({SPLIT_COLUMN})"
  else:
    index, how = chronological_split_of(config, records), 'event origin time'
  parts = {name: records.subset(rows) for name, rows in index.items()}
  train_sources = tuple(config.get('train_sources', ()) or ())
  if train_sources:
    parts['train'] = keep_sources(parts['train'], train_sources)
  log(f'split by {how}: ' + ', '.join(f'{name} {len(part)} records {part.class_counts()}'
                                     for name, part in parts.items()) + ' (tectonic, non-tectonic)')
  return Split(parts['train'], parts.get('validation'), parts['test'])


def split_by(config, records: RecordSet) -> str:
  """'split_column' or 'origin_time': ``config.split.by``, or by default the prepared set's split column when it has one.

  Raises:
    ConfigError: naming ``--config.split.by`` for another value, or 'split_column' for a set without one.
  """
  by = unset_if_none(config.split.get('by'))
  if by is None:
    return 'split_column' if SPLIT_COLUMN in records.extra else 'origin_time'
  if by not in SPLIT_BY:
    raise ConfigError('split.by', f'{by!r}: one of {", ".join(SPLIT_BY)} (or None: the prepared set\'s split '
                      'column when it has one, else origin_time)')
  if by == 'split_column' and SPLIT_COLUMN not in records.extra:
    raise ConfigError('split.by', f'split_column: {config.dataset} has no split column; prepare it with '
                      '--split_boundaries or --random_split, or split by origin_time')
  return by


def column_split(records: RecordSet, dataset: str) -> dict[str, np.ndarray]:
  """Record indices of the prepared set's ``split`` column: train, optional validation, and test.

  A SeisBench set prepared without a split of its own keeps SeisBench's column, whose
  ``dev`` rows are the validation split.

  Raises:
    ConfigError: naming ``--config.split.by`` when the column names other splits or lacks train or test.
  """
  column = np.asarray(records.extra[SPLIT_COLUMN], dtype=str)
  for alias, name in SPLIT_ALIASES.items():
    column = np.where(column == alias, name, column)
  found = sorted(set(column.tolist()))
  if not set(found) <= set(COLUMN_SPLITS) or not {'train', 'test'} <= set(found):
    raise ConfigError('split.by', f'{dataset}: the split column holds {", ".join(found)}; training reads train, '
                      'test and optionally validation (prepare with --split_names=train,test or '
                      'train,validation,test), or set --config.split.by=origin_time')
  return {name: np.flatnonzero(column == name) for name in COLUMN_SPLITS if name in found}


def chronological_split_of(config, records: RecordSet) -> dict[str, np.ndarray]:
  """Record indices of train < ``split.validation_from`` (when set) <= validation < ``split.test_from`` <= test.

  Raises:
    ConfigError: naming ``--config.split`` for times that do not split the records, or an empty split.
  """
  validation_from, test_from = unset_if_none(config.split.validation_from), config.split.test_from
  names = ('train', 'validation', 'test') if validation_from else ('train', 'test')
  boundaries = [validation_from, test_from] if validation_from else [test_from]
  try:
    index = chronological_split(records, boundaries, names)
  except ValueError as error:
    raise ConfigError('split', f'validation_from={validation_from} test_from={test_from}: {error}') from error
  for name in names:
    if len(index[name]) == 0:
      raise ConfigError('split', f'validation_from={validation_from} test_from={test_from}: the {name} split '
                        f'of {config.dataset} is empty (a set whose classes lie in different years splits with '
                        f'experiments.prepare --random_split)')
  return index


def unset_if_none(value: Any) -> Any:
  """``value``, or None for the text a command line gives for None (``--config.split.validation_from=None``).

  ml_collections keeps a string field's override as text, so 'None' would reach the
  split as a time.

  Examples:
    >>> unset_if_none('None'), unset_if_none(''), unset_if_none('2020-07-01')
    (None, None, '2020-07-01')
  """
  return None if isinstance(value, str) and value.strip().lower() in ('', 'none', 'null') else value


def keep_sources(records: RecordSet, sources) -> RecordSet:
  """The records whose ``source`` (the prepared set's input folder) is one of ``sources``.

  Raises:
    ConfigError: naming ``--config.train_sources`` when a source is not in the set.
  """
  present = records.sources
  unknown = sorted(set(sources) - set(present))
  if unknown:
    raise ConfigError('train_sources', f'{", ".join(unknown)} not among the sources of the records '
                      f'({", ".join(sorted(set(present))) or "no source column"})')
  return records.subset(np.flatnonzero(np.isin(present, list(sources))))


def dataset_identity(config) -> dict[str, Any]:
  """What identifies ``config.dataset`` in a study's provenance.

  Returns:
    ``{'path': 'synthetic:num_events=60,samples=...,seed=0'}`` or ``{'path': <absolute
    folder>, 'manifest_sha256': <hash of its manifest.csv>}``.
  """
  if config.dataset == 'synthetic':
    return {'path': 'synthetic:' + ','.join(f'{k}={v}' for k, v in sorted(config.synthetic.items()))}
  manifest = pathlib.Path(config.dataset) / MANIFEST_FILE
  return {'path': str(pathlib.Path(config.dataset).resolve()),
          'manifest_sha256': hashlib.sha256(manifest.read_bytes()).hexdigest()}
