"""Generalisation to new years and new stations: every method under every selection scheme, pooled.

A model for seismic event discrimination is used on events after its training
data, often recorded by stations it never saw. So methods are compared by how
they are used:

  - ``forward``: rolling origin. Fold ``k`` trains on every event before origin
    year ``Y_k`` and predicts the events of ``[Y_k, Y_{k+1})``. Pooled over the
    folds, every event is predicted by a model that never saw its year. The last
    fold predicts the test years; the folds before them choose the recipe.
  - ``station``: station-grouped folds; a fold's stations never appear in its
    training records (an event recorded by several stations may have records on
    both sides: the station, not the event, is what is held out).
  - ``shuffled``: event-grouped folds over the years before the test split, the
    classic cross-validation that mixes years and stations (kept for comparison).

Every method predicts every validated record of a scheme once; the predictions
are pooled and scored together (``evaluation.intervals``: event-resampling
bootstrap intervals, paired differences). Methods are rows of one table, so the gap
between shuffled cross-validation, forward folds and the test years is visible per
method.

Methods are of four kinds: a network recipe (a run config, trained per fold in
its own run folder, so an interrupted study resumes), a physics feature set
(``evaluation.physics``: a logistic regression per fold), a control (a lookup on
station novelty, instrument, magnitude or signal-to-noise level) and a stack of
two methods' probabilities, fitted on the earlier forward folds' predictions only.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import pathlib
from typing import Any, Callable, Mapping, Sequence

from absl import logging
import ml_collections
import numpy as np

from ganet_jax.data import splits
from ganet_jax.data.dataset import load_records
from ganet_jax.data.records import RecordSet
from ganet_jax.evaluation import controls
from ganet_jax.evaluation.aggregation import logit
from ganet_jax.evaluation.physics import fit_logistic, fit_records, record_features, sigmoid
from ganet_jax.evaluation.reports import json_ready, read_predictions
from ganet_jax.studies import generalization_report as report
from ganet_jax.studies.cross_validation import seed_runs
from ganet_jax.studies.generalization_report import Fold
from ganet_jax.training.experiment import experiment_config, run

SCHEMES = ('forward', 'station', 'shuffled')
PREDICTIONS_COLUMNS = ('record_id', 'event_id', 'label', 'fold', 'year', 'station', 'p_tectonic')


def years(records: RecordSet) -> np.ndarray:
  """The origin year of every record (int)."""
  return splits.origin_years(records.origin_times)


def align(record_sets: Mapping[str, RecordSet]) -> dict[str, RecordSet]:
  """The same records, in the same order, from every prepared set (their common record ids).

  Prepared sets of one input with other windows or filters accept nearly the same
  records; pairing methods record by record needs exactly the same ones.

  Raises:
    ValueError: when the sets share no record, or disagree on a shared record's event or label.
  """
  names = list(record_sets)
  common = set(map(str, record_sets[names[0]].record_ids))
  for name in names[1:]:
    common &= set(map(str, record_sets[name].record_ids))
  if not common:
    raise ValueError(f'the prepared sets {", ".join(names)} share no record id')
  order = sorted(common)
  aligned = {}
  for name, records in record_sets.items():
    position = {str(r): i for i, r in enumerate(records.record_ids)}
    aligned[name] = records.subset([position[r] for r in order])
  first = aligned[names[0]]
  for name in names[1:]:
    other = aligned[name]
    if not (np.array_equal(first.labels, other.labels) and np.array_equal(first.event_ids, other.event_ids)):
      raise ValueError(f'prepared sets {names[0]} and {name} disagree on the events or labels of shared records')
  return aligned


def forward_folds(records: RecordSet, origins: Sequence[int], *, test_from: int,
                  min_train_events: int = 3) -> tuple[list[Fold], list[str]]:
  """Rolling-origin folds (``splits.forward_folds``): fold ``k`` trains before ``origins[k]`` and predicts
  ``[origins[k], origins[k+1])``; the last predicts every later year. Folds from ``test_from`` are ``test``.

  Returns:
    (folds, reasons for the skipped ones).
  """
  boundaries = list(origins) + [max(int(years(records).max()) + 1, int(origins[-1]) + 1)]
  found, skipped = splits.forward_folds(records.origin_times, records.event_ids, records.labels,
                                        boundaries=boundaries, min_train_events_per_class=min_train_events)
  name = lambda f: f'{f.start}' if f.end == f.start + 1 else f'{f.start}-{f.end - 1}'
  return [Fold(name(f), f.train, f.validation, test=f.start >= test_from) for f in found], skipped


def station_folds(records: RecordSet, num_folds: int, *, seed: int, test_from: int) -> list[Fold]:
  """Station-grouped folds (``splits.station_folds``) over the years before ``test_from``."""
  before = np.flatnonzero(years(records) < test_from)
  pool = records.subset(before)
  found = splits.station_folds(controls.station_key(pool), pool.event_ids, pool.labels, num_folds, seed=seed)
  return [Fold(f'station_{k}', before[f.train], before[f.validation]) for k, f in enumerate(found)]


def shuffled_folds(records: RecordSet, num_folds: int, *, seed: int, test_from: int) -> list[Fold]:
  """Event-grouped, class-stratified folds over the years before ``test_from`` (``assign_event_folds``)."""
  before = years(records) < test_from
  ids, labels = np.asarray(records.event_ids)[before], np.asarray(records.labels)[before]
  first = dict(zip(ids, labels))
  events = sorted(first)
  fold_of = splits.assign_event_folds(events, [first[e] for e in events], num_folds, seed=seed)
  assigned = np.array([fold_of.get(str(e), -1) if b else -1 for e, b in zip(records.event_ids, before)])
  return [Fold(f'shuffled_{k}', np.flatnonzero(before & (assigned != k)), np.flatnonzero(assigned == k))
          for k in range(num_folds)]


# --- methods: each maps (train records, validation records, fold) to P(tectonic) of the validation records

Predictor = Callable[[RecordSet, RecordSet, Fold], np.ndarray]


def physics_predictor(feature_set: str) -> Predictor:
  """A logistic regression on the named feature set, fitted on the fold's training records."""
  def predict(train: RecordSet, validation: RecordSet, fold: Fold) -> np.ndarray:
    return fit_records(train, feature_set)(validation)
  return predict


def network_predictor(config, workdir: pathlib.Path, log: Callable[[str], None]) -> Predictor:
  """A network trained per fold for the config's fixed epochs (nothing is chosen on the fold's records).

  One run per seed of ``config.seeds`` (the config's ``seed`` alone when it has none),
  their probabilities averaged: the fold is scored as the seed ensemble, as
  cross-validation scores it. Each run is an ordinary run folder, ``workdir/<fold>``
  for the config's own seed and ``workdir/<fold>_seed_<s>`` for another
  (``cross_validation.seed_runs``), so a rerun resumes.
  """
  seeds = tuple(config.get('seeds', ()) or ())

  def predict(train: RecordSet, validation: RecordSet, fold: Fold) -> np.ndarray:
    members = []
    for seed_config, folder in seed_runs(config, fold.name, seeds):
      log(f'{workdir.name} {folder}: {len(train)} training records {train.class_counts()}, '
          f'{len(validation)} predicted {validation.class_counts()}')
      run(experiment_config(seed_config), train, validation, workdir / folder, log=log)
      members.append(read_predictions(workdir / folder, validation))
    return np.mean(members, axis=0)
  return predict


def lookup_control(key: Callable[[RecordSet], np.ndarray]) -> Predictor:
  """P(tectonic | key) fitted on the training records (``controls.lookup_predictor``)."""
  def predict(train: RecordSet, validation: RecordSet, fold: Fold) -> np.ndarray:
    return controls.lookup_predictor(key(train), train.labels)(key(validation))
  return predict


def novelty_control(train: RecordSet, validation: RecordSet, fold: Fold) -> np.ndarray:
  """``controls.station_novelty_control``: a station seen in training is called tectonic, an unseen one not."""
  return controls.station_novelty_control(controls.station_key(train), controls.station_key(validation))


def magnitude_control(train: RecordSet, validation: RecordSet, fold: Fold) -> np.ndarray:
  """``controls.magnitude_control`` on the manifest's ``magnitude`` column (NaN where unknown).

  A fold whose training records lack a magnitude for either class predicts 0.5 (no information).
  """
  magnitude = _numeric(train, 'magnitude')
  if len(np.unique(train.labels[np.isfinite(magnitude)])) < 2:
    return np.full(len(validation), 0.5)
  return controls.magnitude_control(magnitude, train.labels, _numeric(validation, 'magnitude'))


def _numeric(records: RecordSet, column: str) -> np.ndarray:
  values = np.asarray(records.extra.get(column, np.full(len(records), '')), dtype=str)
  return np.array([float(v) if v.strip() else np.nan for v in values])


def predict_folds(predictor: Predictor, records: RecordSet, folds: Sequence[Fold]) -> np.ndarray:
  """Every validated record's P(tectonic) from its fold's predictor (NaN for records no fold validates)."""
  p = np.full(len(records), np.nan)
  for fold in folds:
    p[fold.validation] = predictor(records.subset(fold.train), records.subset(fold.validation), fold)
  return p


def stack_forward(p_a: np.ndarray, p_b: np.ndarray, records: RecordSet, folds: Sequence[Fold]) -> np.ndarray:
  """A stacked combination of two methods' forward probabilities: a logistic regression on their logits.

  Fold ``k``'s stack is fitted on the predictions of folds before ``k`` (themselves
  made by models that never saw those years), so no prediction is stacked with
  weights fitted on its own year; the first fold, with no earlier predictions, gets
  the mean of the two logits.
  """
  x = np.stack([logit(p_a), logit(p_b)], axis=1)
  p = np.full(len(records), np.nan)
  earlier = np.zeros(0, np.int64)
  for fold in folds:
    labels = records.labels[earlier]
    if len(earlier) and len(np.unique(labels)) == 2:
      p[fold.validation] = fit_logistic(x[earlier], labels).p_tectonic(x[fold.validation])
    else:
      p[fold.validation] = sigmoid(x[fold.validation].mean(axis=1))
    earlier = np.concatenate([earlier, fold.validation])
  return p


# --- predictions on disk and their figures

def write_predictions(path: pathlib.Path, records: RecordSet, folds: Sequence[Fold], p_tectonic: np.ndarray) -> None:
  """One row per validated record: what the pooled figures are computed from."""
  path.parent.mkdir(parents=True, exist_ok=True)
  fold_name = np.full(len(records), '', dtype=object)
  for fold in folds:
    fold_name[fold.validation] = fold.name
  station, year = controls.station_key(records), years(records)
  with open(path, 'w', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(PREDICTIONS_COLUMNS)
    for i in np.flatnonzero(np.isfinite(p_tectonic)):
      writer.writerow([records.record_ids[i], records.event_ids[i], int(records.labels[i]), fold_name[i],
                       year[i], station[i], repr(float(p_tectonic[i]))])  # exact: a rerun reads back the same ties


# --- the study

@dataclasses.dataclass(frozen=True)
class Method:
  """A named method: how it predicts a fold, and which records (prepared set) it reads."""
  name: str
  kind: str  # 'network', 'physics', 'control' or 'stack'
  predictor: Predictor | None = None
  dataset: str = ''  # key into the aligned record sets
  parts: tuple[str, str] = ('', '')  # a stack's two methods
  schemes: tuple[str, ...] = SCHEMES


def scheme_folds(records: RecordSet, settings) -> tuple[dict[str, list[Fold]], list[str]]:
  """{scheme: folds} of the study's records, and the reasons any forward fold was skipped."""
  test_from = int(settings.test_from)
  forward, skipped = forward_folds(records, settings.forward_origins, test_from=test_from,
                                   min_train_events=settings.min_train_events)
  return {'forward': forward,
          'station': station_folds(records, settings.station_folds, seed=settings.seed, test_from=test_from),
          'shuffled': shuffled_folds(records, settings.shuffled_folds, seed=settings.seed, test_from=test_from),
          }, skipped


def run_methods(methods: Sequence[Method], aligned: Mapping[str, RecordSet], folds: Mapping[str, list[Fold]],
                workdir: pathlib.Path, log: Callable[[str], None],
                known: Mapping[str, Mapping[str, np.ndarray]] | None = None) -> dict[str, dict[str, np.ndarray]]:
  """{scheme: {method: P(tectonic) per aligned record, NaN where not predicted}}; each written as a CSV.

  A method's predictions already on disk (``predictions/<scheme>/<method>.csv``) are read
  back, so a rerun only computes what is missing. ``known`` holds predictions already
  made (a stack's parts); they are returned too.
  """
  reference = next(iter(aligned.values()))
  out: dict[str, dict[str, np.ndarray]] = {scheme: dict((known or {}).get(scheme, {})) for scheme in folds}
  # scheme by scheme, in SCHEMES order: every method's forward predictions come before any other scheme's
  for scheme in [s for s in SCHEMES if s in folds]:
    for method in methods:
      if scheme not in method.schemes:
        continue
      path = workdir / 'predictions' / scheme / f'{method.name}.csv'
      if path.is_file():
        out[scheme][method.name] = read_pooled(path, reference)
        continue
      if method.kind == 'stack':
        a, b = (out[scheme].get(part) for part in method.parts)
        if a is None or b is None:
          continue
        p = stack_forward(a, b, reference, folds[scheme])
      else:
        log(f'{method.name}: {scheme} folds')
        p = predict_folds(method.predictor, aligned[method.dataset], folds[scheme])
      write_predictions(path, reference, folds[scheme], p)
      out[scheme][method.name] = p
  return out


def read_pooled(path: pathlib.Path, records: RecordSet) -> np.ndarray:
  """P(tectonic) per record of ``records`` from a predictions CSV (NaN for records it lacks)."""
  with open(path, newline='') as f:
    rows = {row['record_id']: float(row['p_tectonic']) for row in csv.DictReader(f)}
  return np.array([rows.get(str(r), np.nan) for r in records.record_ids])


CONTROLS: Mapping[str, Predictor] = {
    'station novelty': novelty_control,
    'instrument': lookup_control(controls.instrument_key),
    'station': lookup_control(controls.station_key),
    'era': lookup_control(controls.era_key),
    'magnitude': magnitude_control,
    'snr': physics_predictor('snr'),  # the record's overall signal-to-noise level alone
}


def study_methods(recipes: Sequence[Any], settings, workdir: pathlib.Path,
                  log: Callable[[str], None]) -> list[Method]:
  """The study's methods: network recipes, physics feature sets, controls (the stack is added once chosen).

  Args:
    recipes: ``(name, config)`` pairs (``cross_validation.Recipe``); each network reads its config's data set.
    settings: the config's ``generalization`` entry.
    workdir: run folders go under ``workdir/runs/<recipe>/<scheme>``.
    log: progress lines.
  """
  methods = []
  for recipe in recipes:
    schemes = SCHEMES if recipe.name in settings.all_schemes_networks else ('forward',)
    methods.append(Method(recipe.name, 'network', dataset=recipe.config.dataset, schemes=schemes,
                          predictor=_per_scheme_network(recipe.config, workdir / 'runs' / recipe.name, log)))
  for feature_set in settings.physics_feature_sets:
    methods.append(Method(f'physics: {feature_set}', 'physics', physics_predictor(feature_set),
                          dataset=settings.physics_dataset))
  for name in settings.controls:
    if name not in CONTROLS:
      raise ValueError(f'unknown control {name!r}; known: {", ".join(CONTROLS)}')
    methods.append(Method(f'control: {name}', 'control', CONTROLS[name], dataset=settings.physics_dataset))
  return methods


def _per_scheme_network(config, folder: pathlib.Path, log) -> Predictor:
  """A network predictor whose run folders are ``folder/<scheme>/<fold>`` (the scheme read off the fold name)."""
  def predict(train: RecordSet, validation: RecordSet, fold: Fold) -> np.ndarray:
    scheme = fold.name.split('_')[0] if fold.name.startswith(('station_', 'shuffled_')) else 'forward'
    return network_predictor(config, folder / scheme, log)(train, validation, fold)
  return predict


def run_study(recipes: Sequence[Any], settings, workdir: str | pathlib.Path, *,
              log: Callable[[str], None] = logging.info) -> dict[str, Any]:
  """Every method under every scheme, the choices by the forward folds, the tables; written to ``workdir``.

  Args:
    recipes: the network recipes (``name``, ``config`` with its prepared ``dataset``).
    settings: the config's ``generalization`` entry (see ``experiments/configs/generalization.py``).
    workdir: predictions/, runs/, generalization.json and generalization.md go here.
    log: progress lines; absl's ``logging.info`` by default.

  Returns:
    The JSON-ready results: folds, choices, tables' figures.
  """
  workdir = pathlib.Path(workdir)
  datasets = {recipe.config.dataset for recipe in recipes} | {settings.physics_dataset}
  aligned = align({name: load_records(dataset_config(name)) for name in sorted(datasets)})
  records = aligned[settings.physics_dataset]
  folds, skipped = scheme_folds(records, settings)
  methods = study_methods(recipes, settings, workdir, log)
  predictions = run_methods(methods, aligned, folds, workdir, log)

  forward = predictions['forward']
  networks = [m.name for m in methods if m.kind == 'network']
  physics = [m.name for m in methods if m.kind == 'physics']
  best_network = report.choose(records, forward, folds['forward'], networks)
  best_physics = report.choose(records, forward, folds['forward'], physics)
  stack = None
  if best_network and best_physics:
    stack = Method(f'stack: {best_network} + {best_physics}', 'stack', parts=(best_network, best_physics),
                   schemes=('forward',))
    predictions = run_methods([stack], aligned, folds, workdir, log, known=predictions)
  names = [m.name for m in methods] + ([stack.name] if stack else [])
  winner = report.choose(records, predictions['forward'], folds['forward'],
                         [n for n in names if not n.startswith('control:')])

  n_boot, seed = settings.n_boot, settings.seed
  gap_md, gap = report.gap_table(records, predictions, folds, names, n_boot=n_boot, seed=seed)
  pooled_md, pooled = report.pooled_table(records, predictions['forward'], folds['forward'], names,
                                          n_boot=n_boot, seed=seed)
  paired_md, paired = ('', {})
  if best_physics:
    paired_md, paired = report.paired_table(records, predictions['forward'], folds['forward'], names, best_physics,
                                            n_boot=n_boot, seed=seed)
  # the record's overall signal-to-noise ratio, for the SNR-weighted event rule
  snr = 10.0 ** record_features(records, 'snr')[:, 0] if records.noise is not None else None
  aggregations, aggregation_md = {}, []
  for name in dict.fromkeys(n for n in (winner, best_network) if n):
    table, figures, rule = report.aggregation_table(records, predictions['forward'][name], folds['forward'], snr,
                                                    n_boot=n_boot, seed=seed)
    aggregations[name] = {'figures': figures, 'chosen': rule}
    aggregation_md.append(f'### {name} (chosen rule: {rule})\n\n{table}')
  results = {'best_network': best_network, 'best_physics': best_physics, 'winner': winner,
             'aggregation': aggregations,
             'stack': stack.name if stack else None, 'skipped_folds': skipped,
             'folds': {scheme: [f.name for f in fs] for scheme, fs in folds.items()},
             'records': len(records), 'gap': gap, 'pooled': pooled, 'paired': paired}
  (workdir / 'generalization.json').write_text(json.dumps(json_ready(results), indent=2) + '\n')
  text = '\n\n'.join([
      '# Generalisation to new years and stations',
      '## Forward folds: what each trains on and predicts\n\n' + report.counts_table(records, folds['forward'], skipped),
      '## Event AUC by scheme (pooled over each scheme\'s folds; 95% intervals resample events)\n\n' + gap_md,
      '## Forward folds and test years pooled\n\n' + pooled_md,
      f'## Paired differences against the chosen physics baseline ({best_physics})\n\n' + paired_md,
      '## Event aggregation rules (forward folds; the learned rule fitted on earlier folds only)\n\n'
      + '\n\n'.join(aggregation_md),
      f'Chosen by pooled event AUC on the forward folds before the test years: network {best_network}, '
      f'physics {best_physics}, overall {winner}.'])
  (workdir / 'generalization.md').write_text(text + '\n')
  return results


def dataset_config(dataset: str) -> ml_collections.ConfigDict:
  """The least config ``load_records`` reads: a prepared folder's path."""
  return ml_collections.ConfigDict({'dataset': dataset})
