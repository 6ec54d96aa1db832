"""Event-grouped k-fold cross-validation over the training years: where recipes are compared and chosen.

With a few dozen events a single validation split is a coin toss (the pnw
validation half-year holds two explosion events), and the test years must never
choose anything. So recipes are compared on folds of the pool before
``split.test_from``: whole events per fold, classes spread evenly over the folds,
every recipe on the same events (the fold of an event is a function of the event
ids, labels and seed, so data sets prepared with other windows or filters from the
same records share it). Only records of ``validate_sources`` are validated on;
records of other sources only ever train, so an extra source whose classes
cluster in time (pnw-extra) cannot reward a recipe for learning its era.

Every (recipe, fold) is an ordinary run folder under ``<workdir>/<recipe>/fold_<k>``,
so an interrupted cross-validation resumes where it stopped. With several ``seeds``
a fold is scored as the ensemble the study ships (the mean of the seeds'
probabilities); the recipe's own seed keeps ``fold_<k>``, another seed ``s`` trains in
``fold_<k>_seed_<s>``, so adding seeds to a finished cross-validation reuses its runs.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Any, Callable, Mapping, Sequence

from absl import logging
import numpy as np

from ganet_jax.conventions import THRESHOLD
from ganet_jax.data.dataset import keep_sources, load_records
from ganet_jax.data.records import RecordSet
from ganet_jax.data.splits import assign_event_folds
from ganet_jax.errors import ConfigError
from ganet_jax.evaluation import metrics
from ganet_jax.evaluation.physics import fit_records
from ganet_jax.evaluation.reports import json_ready, read_predictions
from ganet_jax.progress import Progress
from ganet_jax.studies.run import summarize
from ganet_jax.training.config import MAX_SEED, apply_overrides, check_integer
from ganet_jax.training.experiment import experiment_config, run

CV_FILE, CV_TABLE = 'cv.json', 'cv.md'
CV_METRICS = ('auc', 'balanced_accuracy', 'event_auc', 'event_balanced_accuracy')


@dataclasses.dataclass(frozen=True)
class Recipe:
  """A named training recipe: a full run config (data set, model, training fields).

  ``config.train_sources`` (a tuple of ``source`` names, or empty for all) limits the
  records it trains on; validation records are the same for every recipe.
  """
  name: str
  config: Any  # ml_collections.ConfigDict


def training_pool(config) -> RecordSet:
  """Every record of ``config.dataset`` from before ``config.split.test_from`` (train and validation years)."""
  records = load_records(config)
  before = np.asarray(records.origin_times, 'datetime64[ms]') < np.datetime64(config.split.test_from, 'ms')
  return records.subset(np.flatnonzero(before))


def fold_assignment(pools: Sequence[RecordSet], num_folds: int, *, seed: int,
                    validate_sources: Sequence[str] = ()) -> dict[str, int]:
  """{event id: fold} over the union of the pools' validated events (see ``assign_event_folds``)."""
  labels = {}
  for pool in pools:
    keep = _validated(pool, validate_sources)
    labels.update(zip(np.asarray(pool.event_ids)[keep], np.asarray(pool.labels)[keep]))
  events = sorted(labels)
  return assign_event_folds(events, [labels[e] for e in events], num_folds, seed=seed)


def fold_records(pool: RecordSet, fold_of_event: Mapping[str, int], fold: int, *,
                 validate_sources: Sequence[str] = (), train_sources: Sequence[str] = ()) -> tuple[RecordSet, RecordSet]:
  """(train, validation) of one fold: validation = validated records of the fold's events; train = every
  record of other events (of ``train_sources`` when given). No event is on both sides."""
  fold_ids = np.array([fold_of_event.get(str(e), -1) for e in pool.event_ids])
  validation = _validated(pool, validate_sources) & (fold_ids == fold)
  held_out = np.isin(pool.event_ids, np.asarray(pool.event_ids)[validation])
  train = pool.subset(np.flatnonzero(~held_out))
  return keep_sources(train, train_sources) if train_sources else train, pool.subset(np.flatnonzero(validation))


def _validated(pool: RecordSet, validate_sources: Sequence[str]) -> np.ndarray:
  return np.isin(pool.sources, list(validate_sources)) if validate_sources else np.ones(len(pool), bool)


def fold_metrics(records: RecordSet, p_tectonic: np.ndarray, *, threshold: float = THRESHOLD) -> dict[str, Any]:
  """The cross-validation's figures of one fold: record and event AUC and balanced accuracy."""
  record = metrics.classification_metrics(records.labels, p_tectonic, threshold=threshold)
  event = metrics.event_metrics(records.event_ids, records.event_types, records.labels, p_tectonic,
                                threshold=threshold)
  return {'auc': record['auc'], 'balanced_accuracy': record['balanced_accuracy'], 'event_auc': event['auc'],
          'event_balanced_accuracy': event['balanced_accuracy'], 'n_records': len(records),
          'n_events': event['n_events'], 'collapsed_to_one_class': record.get('collapsed_to_one_class', False)}


def cross_validate(recipes: Sequence[Recipe], *, num_folds: int, seed: int, workdir: str | pathlib.Path,
                   validate_sources: Sequence[str] = (), physics_config=None,
                   physics_feature_sets: Sequence[str] = (), seeds: Sequence[int] = (),
                   log: Callable[[str], None] = logging.info, progress: bool | None = None) -> dict:
  """Train and validate every recipe on every fold; the same for the physics baseline's feature sets.

  Args:
    recipes: the recipes; each trains with its own config's data set.
    num_folds: k.
    seed: the fold assignment's seed.
    workdir: one run folder per (recipe, fold) below it, plus cv.json and cv.md.
    validate_sources: sources whose records are validated on (empty: all).
    physics_config: a config whose data set the physics baseline's features are
      computed on (e.g. unfiltered 100-s windows); None skips the baseline.
    physics_feature_sets: names in ``evaluation.physics.FEATURE_SETS``.
    seeds: training seeds per (recipe, fold), scored as their ensemble; empty: each
      recipe's own ``seed``.
    log: receives a line per fold and the runs' epoch lines; absl's ``logging.info`` by default.
    progress: log runs done, runs per hour and the ETA after every run, and each
      epoch's records/s (``ganet_jax.progress``): True, False, or None for when
      stderr is a terminal.

  Returns:
    {'recipes': {name: {'folds': [...], 'summary': {metric: summarize(...)}}}, 'physics': {...},
     'best': the recipe with the highest mean event AUC, 'folds': ..., 'validate_sources': ...}.
  """
  workdir = pathlib.Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  pools = {recipe.name: training_pool(recipe.config) for recipe in recipes}
  physics_pool = training_pool(physics_config) if physics_config is not None and physics_feature_sets else None
  every_pool = list(pools.values()) + ([physics_pool] if physics_pool is not None else [])
  fold_of_event = fold_assignment(every_pool, num_folds, seed=seed, validate_sources=validate_sources)

  results = {'num_folds': num_folds, 'seed': seed, 'validate_sources': list(validate_sources),
             'training_seeds': list(seeds), 'fold_of_event': fold_of_event, 'recipes': {}, 'physics': {}}
  runs = Progress(len(recipes) * num_folds * max(len(seeds), 1), 'runs', enabled=progress, label='cross-validation',
                  interval_s=0)
  for recipe in recipes:
    folds = []
    for fold in range(num_folds):
      train, validation = fold_records(pools[recipe.name], fold_of_event, fold, validate_sources=validate_sources,
                                       train_sources=tuple(recipe.config.get('train_sources', ()) or ()))
      log(f'{recipe.name} fold {fold}: {len(train)} training records {train.class_counts()}, '
          f'{len(validation)} validation records {validation.class_counts()}')
      members = []
      for config, folder in seed_runs(recipe.config, f'fold_{fold}', seeds):
        run(experiment_config(config), train, validation, workdir / recipe.name / folder, log=log, progress=progress)
        runs.update(1)
        members.append(read_predictions(workdir / recipe.name / folder, validation))
      folds.append(fold_metrics(validation, np.mean(members, axis=0)))
    results['recipes'][recipe.name] = _summarized(folds)
    _write(workdir, results)
  for feature_set in physics_feature_sets if physics_pool is not None else ():
    folds = []
    for fold in range(num_folds):
      train, validation = fold_records(physics_pool, fold_of_event, fold, validate_sources=validate_sources)
      p_tectonic = fit_records(train, feature_set)(validation)
      folds.append(fold_metrics(validation, p_tectonic))
    results['physics'][feature_set] = _summarized(folds)
  ranked = sorted(results['recipes'], key=lambda name: _mean(results['recipes'][name], 'event_auc'), reverse=True)
  results['best'] = ranked[0] if ranked else None
  ranked_physics = sorted(results['physics'], key=lambda name: _mean(results['physics'][name], 'event_auc'),
                          reverse=True)
  results['best_physics'] = ranked_physics[0] if ranked_physics else None
  _write(workdir, results)
  return results


def seed_runs(config: Any, folder: str, seeds: Sequence[int]) -> list[tuple[Any, str]]:
  """(config, run folder name) per training seed of one model's runs, whose probabilities are averaged.

  The config's own seed keeps ``folder``, another seed ``s`` trains in ``<folder>_seed_<s>``:
  adding seeds to a finished study reuses its runs.

  Args:
    config: a run's ``ml_collections`` config (its ``seed`` is the own seed).
    folder: the run folder's name for the own seed.
    seeds: the training seeds; empty: the config's own seed alone.
  """
  own = config.seed
  return [(config, folder) if s == own else (apply_overrides(config, {'seed': s}), f'{folder}_seed_{s}')
          for s in (seeds or (own,))]


def _summarized(folds: list[dict]) -> dict:
  return {'folds': folds, 'summary': {m: summarize(fold[m] for fold in folds) for m in CV_METRICS}}


def _mean(entry: dict, metric: str) -> float:
  mean = entry['summary'][metric]['mean']
  return -np.inf if mean is None else mean


def markdown(results: Mapping[str, Any]) -> str:
  """cv.md: one row per recipe and physics feature set, mean ± sample std over folds."""
  cell = lambda s: '-' if s['mean'] is None else f'{s["mean"]:.3f} ± {s["std"]:.3f}'
  lines = ['| method | record AUC | record bal. acc. | event AUC | event bal. acc. | collapsed folds |',
           '|---|---|---|---|---|---|']
  rows = [(name, entry) for name, entry in results['recipes'].items()]
  rows += [(f'physics: {name}', entry) for name, entry in results['physics'].items()]
  for name, entry in rows:
    collapsed = sum(bool(fold['collapsed_to_one_class']) for fold in entry['folds'])
    lines.append(f'| {name} | ' + ' | '.join(cell(entry['summary'][m]) for m in CV_METRICS) + f' | {collapsed} |')
  sources = ', '.join(results['validate_sources']) or 'all'
  seeds = results.get('training_seeds') or []
  ensembles = (f' Each fold scores the ensemble of training seeds {", ".join(map(str, seeds))} (their mean '
               f'probability).' if len(seeds) > 1 else '')
  lines += ['', f'Event-grouped, class-stratified {results["num_folds"]}-fold cross-validation over the years before '
            f'the test split (fold seed {results["seed"]}; validated on sources: {sources}); mean ± sample std '
            f'(ddof=1) over folds.{ensembles} Best recipe by mean event AUC: {results.get("best")}; best physics '
            f'feature set: {results.get("best_physics")}.']
  return '\n'.join(lines) + '\n'


def _write(workdir: pathlib.Path, results: dict) -> None:
  (workdir / CV_FILE).write_text(json.dumps(json_ready(results), indent=2) + '\n')
  (workdir / CV_TABLE).write_text(markdown(results))


def cv_seeds(values) -> tuple[int, ...]:
  """``--config.cv.seeds`` as integer seeds (ConfigError naming it otherwise); empty: each recipe's own seed."""
  try:
    seeds = tuple(int(v) for v in values)
  except (TypeError, ValueError):
    raise ConfigError('cv.seeds', f'{values!r}: integers, e.g. --config.cv.seeds=0,1,2') from None
  for seed in seeds:
    check_integer('cv.seeds', seed, minimum=0, maximum=MAX_SEED)
  return seeds


def cross_validate_config(config, recipes: Sequence[Recipe], *, progress: bool | None = None,
                          log: Callable[[str], None] = logging.info) -> tuple[dict, pathlib.Path]:
  """``cross_validate`` with the settings of ``config.cv`` in ``config.workdir`` (default ``runs/cv``).

  Args:
    config: a config with a ``cv`` entry (folds, seeds, validated sources, the physics
      baseline's feature sets and data set).
    recipes: the recipes compared (each a set of changes to ``config``).
    progress, log: as ``cross_validate``.

  Returns:
    (``cross_validate``'s results, the folder holding cv.md and cv.json).

  Raises:
    ConfigError: a bad ``--config.cv.<field>``; ValueError: too few events of a class for
      the folds, a run folder of other settings (named ``--config.cv``).
  """
  workdir = pathlib.Path(config.workdir or 'runs/cv')
  physics = None
  if config.cv.physics_feature_sets:
    physics = apply_overrides(config, {'dataset': config.cv.physics_dataset})
  check_integer('cv.num_folds', config.cv.num_folds, minimum=2)
  check_integer('cv.seed', config.cv.seed, minimum=0, maximum=MAX_SEED)
  seeds = cv_seeds(config.cv.get('seeds', ()))
  try:
    results = cross_validate(recipes, num_folds=config.cv.num_folds, seed=config.cv.seed, workdir=workdir,
                             validate_sources=tuple(config.cv.validate_sources), physics_config=physics,
                             physics_feature_sets=tuple(config.cv.physics_feature_sets), seeds=seeds,
                             progress=progress, log=log)
  except ConfigError:
    raise
  except ValueError as error:  # too few events of a class for the folds, a run folder of other settings
    raise ValueError(f'--config.cv: {error}') from None
  return results, workdir
