"""The generalisation study's figures and tables: gap per method, pooled forward figures, paired differences.

Everything is computed from pooled predictions (``generalization.run_methods``):
one probability per record and scheme, made by a model that did not train on the
record's fold. Intervals resample events (``evaluation.intervals``).
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import numpy as np

from ganet_jax.data.records import RecordSet
from ganet_jax.evaluation import aggregation, intervals, metrics

# How a method is chosen, fixed before any run: the highest pooled event AUC over the forward folds
# before the test years; within TIE of it, the higher pooled event balanced accuracy.
TIE = 0.005


@dataclasses.dataclass(frozen=True)
class Fold:
  """One fold of a scheme: record indices into the study's aligned records.

  ``test`` marks a fold that predicts the test years: its predictions are reported,
  never used to choose anything.
  """
  name: str
  train: np.ndarray
  validation: np.ndarray
  test: bool = False


def fold_mask(records: RecordSet, folds: Sequence[Fold], *, test: bool | None) -> np.ndarray:
  """Records validated by the folds (only test folds, only the others, or all for ``test=None``)."""
  keep = np.zeros(len(records), bool)
  for fold in folds:
    if test is None or fold.test == test:
      keep[fold.validation] = True
  return keep


def figures(records: RecordSet, p: np.ndarray, keep: np.ndarray, *, n_boot: int, seed: int,
            aggregate=metrics.event_probabilities) -> dict | None:
  """``summary_with_intervals`` over the kept, predicted records; None when they lack a class."""
  keep = keep & np.isfinite(p)
  labels = np.asarray(records.labels)[keep]
  if len(np.unique(labels)) < 2:
    return None
  return intervals.summary_with_intervals(labels, p[keep], np.asarray(records.event_ids)[keep], n_boot=n_boot,
                                          seed=seed, aggregate=aggregate)


def choose(records: RecordSet, predictions: Mapping[str, np.ndarray], forward: Sequence[Fold],
           candidates: Sequence[str]) -> str | None:
  """The candidate with the best pooled event AUC on the forward folds before the test years (see TIE)."""
  keep = fold_mask(records, forward, test=False)
  scored = []
  for name in candidates:
    if name not in predictions:
      continue
    p = predictions[name]
    mask = keep & np.isfinite(p)
    if len(np.unique(records.labels[mask])) < 2:
      continue
    events = metrics.event_metrics(records.event_ids[mask], records.event_types[mask], records.labels[mask], p[mask])
    scored.append((events['auc'], events['balanced_accuracy'], name))
  return pick(scored) if scored else None


def pick(scored: Sequence[tuple[float, float, str]]) -> str:
  """The name the declared rule picks from (event AUC, event balanced accuracy, name) triples (see TIE)."""
  best_auc = max(s[0] for s in scored)
  return max((s for s in scored if s[0] >= best_auc - TIE), key=lambda s: s[1])[2]


def choose_rule(figures: Mapping[str, Mapping], rules: Sequence[str]) -> str:
  """Of ``rules``, the event rule the declared rule picks on the forward folds before the test years.

  Args:
    figures: ``aggregation_table``'s figures: {rule: {'before test': event figures or None, ...}}.
    rules: the candidates, e.g. the rules a model card can name.
  """
  scored = [(row['before test']['auc']['estimate'], row['before test']['balanced_accuracy']['estimate'], rule)
            for rule, row in figures.items() if rule in rules and row['before test'] is not None]
  return pick(scored)


def cell(figure: Mapping[str, float] | None) -> str:
  """'0.812 [0.701, 0.905]' (estimate and 95% interval), '-' when undefined."""
  if not figure or figure.get('estimate') is None or not np.isfinite(figure['estimate']):
    return '-'
  return f'{figure["estimate"]:.3f} [{figure["low"]:.3f}, {figure["high"]:.3f}]'


def gap_table(records: RecordSet, predictions: Mapping[str, Mapping[str, np.ndarray]],
              folds: Mapping[str, Sequence[Fold]], methods: Sequence[str], *, n_boot: int, seed: int) -> tuple[str, dict]:
  """Event AUC of every method under every scheme, pooled over each scheme's folds.

  Columns: shuffled event-grouped folds and station folds (years before the test
  split), forward folds before the test years, the test years alone, and the forward
  folds with the test years pooled.
  """
  columns = [('shuffled', None, 'shuffled CV'), ('station', None, 'unseen stations'),
             ('forward', False, 'forward, before test'), ('forward', True, 'test years'),
             ('forward', None, 'forward + test (pooled)')]
  lines = ['| method | ' + ' | '.join(c[2] for c in columns) + ' |', '|---' * (len(columns) + 1) + '|']
  data = {}
  for name in methods:
    row = {}
    for scheme, test, title in columns:
      p = predictions.get(scheme, {}).get(name)
      if p is None:
        row[title] = None
        continue
      keep = fold_mask(records, folds[scheme], test=test if scheme == 'forward' else None)
      result = figures(records, p, keep, n_boot=n_boot, seed=seed)
      row[title] = None if result is None else result['event']['auc']
    data[name] = row
    lines.append(f'| {name} | ' + ' | '.join(cell(row[c[2]]) for c in columns) + ' |')
  return '\n'.join(lines), data


POOLED_COLUMNS = (('event', 'auc', 'event AUC'), ('event', 'balanced_accuracy', 'event bal. acc.'),
                  ('event', 'sensitivity', 'event sens.'), ('event', 'specificity', 'event spec.'),
                  ('record', 'auc', 'record AUC'), ('record', 'balanced_accuracy', 'record bal. acc.'),
                  ('record', 'sensitivity', 'record sens.'), ('record', 'specificity', 'record spec.'))


def pooled_table(records: RecordSet, predictions: Mapping[str, np.ndarray], forward: Sequence[Fold],
                 methods: Sequence[str], *, n_boot: int, seed: int) -> tuple[str, dict]:
  """Every figure of every method on the forward folds and test years pooled, with intervals."""
  keep = fold_mask(records, forward, test=None)
  lines = ['| method | ' + ' | '.join(c[2] for c in POOLED_COLUMNS) + ' |', '|---' * (len(POOLED_COLUMNS) + 1) + '|']
  data = {}
  for name in methods:
    if name not in predictions:
      continue
    result = figures(records, predictions[name], keep, n_boot=n_boot, seed=seed)
    data[name] = result
    if result is not None:
      lines.append(f'| {name} | ' + ' | '.join(cell(result[level][m]) for level, m, _ in POOLED_COLUMNS) + ' |')
  return '\n'.join(lines), data


def paired_table(records: RecordSet, predictions: Mapping[str, np.ndarray], forward: Sequence[Fold],
                 methods: Sequence[str], baseline: str, *, n_boot: int, seed: int) -> tuple[str, dict]:
  """Each method minus ``baseline`` (event AUC and event balanced accuracy), paired over the same events."""
  keep = fold_mask(records, forward, test=None)
  lines = [f'| method | event AUC minus {baseline} | event bal. acc. minus {baseline} |', '|---|---|---|']
  data = {}
  for name in methods:
    if name == baseline or name not in predictions or baseline not in predictions:
      continue
    both = keep & np.isfinite(predictions[name]) & np.isfinite(predictions[baseline])
    args = (records.labels[both], predictions[name][both], predictions[baseline][both], records.event_ids[both])
    result = {m: intervals.paired_bootstrap_difference(*args, metric=m, n_boot=n_boot, seed=seed)
              for m in ('auc', 'balanced_accuracy')}
    data[name] = result
    lines.append(f'| {name} | {_signed(result["auc"])} | {_signed(result["balanced_accuracy"])} |')
  return '\n'.join(lines), data


def _signed(figure: Mapping[str, float]) -> str:
  return f'{figure["estimate"]:+.3f} [{figure["low"]:+.3f}, {figure["high"]:+.3f}]'


def counts_table(records: RecordSet, folds: Sequence[Fold], skipped: Sequence[str]) -> str:
  """Events (and records) of each class every forward fold trains on and predicts."""
  lines = ['| fold | trains on: events EQ / EX | predicts: events EQ / EX | predicts: records EQ / EX |',
           '|---|---|---|---|']
  for fold in folds:
    train = intervals.class_counts(records.labels[fold.train], records.event_ids[fold.train])
    val = intervals.class_counts(records.labels[fold.validation], records.event_ids[fold.validation])
    pair = lambda c, unit: f'{c[unit]["tectonic"]} / {c[unit]["non_tectonic"]}'
    name = fold.name + (' (test)' if fold.test else '')
    lines.append(f'| {name} | {pair(train, "events")} | {pair(val, "events")} | {pair(val, "records")} |')
  lines += [f'| skipped {reason} | | | |' for reason in skipped]
  return '\n'.join(lines)


def forward_aggregate(rule: str, records: RecordSet, p: np.ndarray, folds: Sequence[Fold], keep: np.ndarray,
                      snr: np.ndarray | None = None):
  """An ``intervals`` aggregate that combines each forward fold's events by ``rule``, over the records ``keep``.

  'learned' is fitted, for fold ``k``, on the forward predictions of the folds before
  ``k`` (made by models that never saw those years); the first fold, with nothing
  earlier of both classes, uses 'mean_logit'. 'snr_weighted' weighs records by
  ``aggregation.snr_weights(snr)``. The aggregate is called with the kept records, in
  their order (as ``figures`` passes them).

  Returns:
    aggregate(event_ids, labels, p_tectonic) -> (events, labels, event probabilities).
  """
  fold_index = np.full(len(records), -1)
  rules, earlier = {}, np.zeros(0, np.int64)
  for k, fold in enumerate(folds):
    fold_index[fold.validation] = k
    labels = np.asarray(records.labels)[earlier]
    if rule == 'learned' and len(np.unique(labels)) == 2:
      rules[k] = aggregation.fit_learned(np.asarray(records.event_ids)[earlier], labels, p[earlier])
    earlier = np.concatenate([earlier, fold.validation])
  fold_index = fold_index[keep]
  weights = aggregation.snr_weights(snr)[keep] if snr is not None else np.ones(int(keep.sum()))

  def combine(event_ids, labels, p_tectonic):
    event_ids, labels, p_tectonic = np.asarray(event_ids), np.asarray(labels), np.asarray(p_tectonic)
    parts = []
    for k in np.unique(fold_index):
      part = fold_index == k
      args = (event_ids[part], labels[part], p_tectonic[part])
      if rule == 'learned':
        parts.append(aggregation.learned(*args, rules[k]) if k in rules else aggregation.mean_logit(*args))
      else:
        parts.append(aggregation.aggregate(rule, *args, weights=weights[part]))
    events = np.concatenate([part[0] for part in parts])
    order = np.argsort(events, kind='stable')
    return (events[order], np.concatenate([part[1] for part in parts])[order],
            np.concatenate([part[2] for part in parts])[order])
  return combine


def aggregation_table(records: RecordSet, p: np.ndarray, forward: Sequence[Fold], snr: np.ndarray, *,
                      n_boot: int, seed: int) -> tuple[str, dict, str]:
  """The four event aggregation rules on one method's forward predictions, and the rule they choose.

  Returns:
    (markdown, figures, the rule with the best pooled event AUC before the test years; ties by
    event balanced accuracy, as ``choose``).
  """
  lines = ['| rule | event AUC, before test | event bal. acc., before test | event AUC, forward + test | '
           'event bal. acc., forward + test |', '|---|---|---|---|---|']
  data = {}
  for rule in aggregation.RULES:
    row = {}
    for test, title in ((False, 'before test'), (None, 'forward + test')):
      keep = fold_mask(records, forward, test=test) & np.isfinite(p)
      result = figures(records, p, keep, n_boot=n_boot, seed=seed,
                       aggregate=forward_aggregate(rule, records, p, forward, keep, snr))
      row[title] = None if result is None else result['event']
    data[rule] = row
    lines.append(f'| {rule} | ' + ' | '.join(cell(None if row[t] is None else row[t][m])
                                            for t in ('before test', 'forward + test')
                                            for m in ('auc', 'balanced_accuracy')) + ' |')
  return '\n'.join(lines), data, choose_rule(data, aggregation.RULES)
