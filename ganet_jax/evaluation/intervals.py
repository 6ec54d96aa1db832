"""Bootstrap intervals that resample EVENTS, not records.

The records of one event are not independent: they share the source, the origin
time and usually the call. A bootstrap that drew records one by one would treat a
30-station event as 30 pieces of evidence and give intervals far too narrow. Here
a resample draws whole events with replacement and takes every record of each
drawn event (an event drawn twice counts twice), and record-level figures are
computed over those records; event-level figures over the drawn events.

The draw is stratified by class: each resample holds as many tectonic events as
the data do and as many non-tectonic ones, drawn with replacement within the
class. Every resample then has both classes, so AUC, sensitivity and specificity
are always defined, and the class balance (which moves accuracy-like figures) is
held at the observed one. The interval is the percentile interval of the resampled
figures. Metrics follow ``metrics``: tectonic is the positive class, a record or
event is called tectonic when ``p_tectonic >= threshold``.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ganet_jax.conventions import NON_TECTONIC, TECTONIC, THRESHOLD
from ganet_jax.evaluation import metrics
from ganet_jax.evaluation.aggregation import event_index

METRICS = ('auc', 'sensitivity', 'specificity', 'balanced_accuracy')
LEVELS = ('record', 'event')
# Resamples evaluated together: bounds the (resamples, records) weight matrices to a few MB.
BLOCK = 250

Aggregate = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]


def resample_event_counts(event_labels, n_boot: int, rng: np.random.Generator) -> np.ndarray:
  """How often each event is drawn in each of ``n_boot`` class-stratified resamples.

  Each class's events are drawn with replacement as many times as the class has
  events, so every resample keeps the observed number of events per class.

  Returns:
    (n_boot, n_events) int counts; each row sums to the number of events.

  Raises:
    ValueError: if a class has no event (a resample could not hold both).
  """
  event_labels = np.asarray(event_labels)
  counts = np.zeros((n_boot, len(event_labels)), np.int64)
  for label in (TECTONIC, NON_TECTONIC):
    members = np.flatnonzero(event_labels == label)
    if not len(members):
      raise ValueError(f'no event of class {label} ({"tectonic" if label == TECTONIC else "non-tectonic"}): '
                       'an interval needs events of both classes')
    draws = rng.integers(0, len(members), size=(n_boot, len(members)))
    rows = np.repeat(np.arange(n_boot), len(members))
    np.add.at(counts, (rows, members[draws.reshape(-1)]), 1)
  return counts


def _check_options(metric_names: Sequence[str], level: str, n_boot: int, confidence: float) -> None:
  unknown = [m for m in metric_names if m not in METRICS]
  if unknown:
    raise ValueError(f'unknown metric {unknown[0]!r}; choose from {", ".join(METRICS)}')
  if level not in LEVELS:
    raise ValueError(f'unknown level {level!r}; choose from {", ".join(LEVELS)}')
  if n_boot < 1:
    raise ValueError(f'n_boot must be at least 1, got {n_boot}')
  if not 0 < confidence < 1:
    raise ValueError(f'confidence must lie in (0, 1), got {confidence}')


def _units(level: str, labels, p_tectonic, event_ids, aggregate: Aggregate):
  """(unit labels, unit scores, unit -> event position) for the record or event level."""
  events, event_labels, inverse = event_index(event_ids, labels)
  if level == 'record':
    return np.asarray(labels), np.asarray(p_tectonic, np.float64), inverse, event_labels
  aggregated_events, aggregated_labels, p_event = aggregate(event_ids, labels, p_tectonic)
  if not np.array_equal(np.asarray(aggregated_events), events):
    raise ValueError('the aggregation must return the sorted unique event ids')
  return np.asarray(aggregated_labels), np.asarray(p_event, np.float64), np.arange(len(events)), event_labels


def _values(metric: str, labels, scores, weights, threshold: float) -> np.ndarray:
  if metric == 'auc':
    return metrics.weighted_roc_auc(labels, scores, weights)
  return metrics.weighted_rates(labels, scores, weights, threshold=threshold)[metric]


def _replicates(metric_names, labels, scores, unit_event, event_counts, threshold) -> dict[str, np.ndarray]:
  """{metric: (n_boot,) values over the resamples} given each event's count per resample."""
  out = {m: [] for m in metric_names}
  for start in range(0, len(event_counts), BLOCK):
    weights = event_counts[start:start + BLOCK][:, unit_event]
    for m in metric_names:
      out[m].append(_values(m, labels, scores, weights, threshold))
  return {m: np.concatenate(v) for m, v in out.items()}


def _interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
  tail = (1 - confidence) / 2
  low, high = np.quantile(values, [tail, 1 - tail])
  return float(low), float(high)


def _point(metric: str, labels, scores, threshold: float) -> float:
  return float(metrics.classification_metrics(labels, scores, threshold=threshold)[metric])


def bootstrap_metric(labels, p_tectonic, event_ids, *, metric: str = 'auc', level: str = 'event',
                     n_boot: int = 2000, seed: int = 0, confidence: float = 0.95, threshold: float = THRESHOLD,
                     aggregate: Aggregate = metrics.event_probabilities) -> dict:
  """A metric's point estimate and its percentile interval over event resamples.

  Args:
    labels: (n,) per-record labels, 0 tectonic / 1 non-tectonic.
    p_tectonic: (n,) per-record probability of tectonic.
    event_ids: (n,) the event of each record; a resample takes all of a drawn event's records.
    metric: 'auc', 'sensitivity', 'specificity' or 'balanced_accuracy'.
    level: 'record' (over the drawn events' records) or 'event' (over the drawn events,
      each scored by ``aggregate``).
    n_boot: number of resamples.
    seed: seeds ``numpy.random.default_rng``; the same seed draws the same events at
      either level and for any metric.
    confidence: coverage of the interval (0.95: the 2.5 and 97.5 percentiles).
    threshold: a unit is called tectonic when its probability is ``>= threshold``.
    aggregate: (event_ids, labels, p_tectonic) -> (sorted events, their labels, event
      probabilities); the mean-probability rule by default.

  Returns:
    {'metric', 'level', 'estimate' (on the data as given), 'low', 'high', 'n_boot', 'confidence'}.

  Raises:
    ValueError: for an unknown metric or level, or data without events of both classes.
  """
  _check_options([metric], level, n_boot, confidence)
  unit_labels, scores, unit_event, event_labels = _units(level, labels, p_tectonic, event_ids, aggregate)
  counts = resample_event_counts(event_labels, n_boot, np.random.default_rng(seed))
  values = _replicates([metric], unit_labels, scores, unit_event, counts, threshold)[metric]
  low, high = _interval(values, confidence)
  return {'metric': metric, 'level': level, 'estimate': _point(metric, unit_labels, scores, threshold),
          'low': low, 'high': high, 'n_boot': n_boot, 'confidence': confidence}


def paired_bootstrap_difference(labels, p_a, p_b, event_ids, *, metric: str = 'auc', level: str = 'event',
                                n_boot: int = 2000, seed: int = 0, confidence: float = 0.95,
                                threshold: float = THRESHOLD, aggregate: Aggregate = metrics.event_probabilities) -> dict:
  """Metric of method A minus method B on the same records, with a paired event-resampling interval.

  Both methods are scored on the SAME resampled events in every resample, so what the
  two share (which events are easy) cancels and the interval is that of the difference.
  An interval that excludes 0 says A and B differ at that confidence.

  Args:
    labels, event_ids: as in ``bootstrap_metric``.
    p_a, p_b: (n,) the two methods' probabilities of tectonic on the same records.
    metric, level, n_boot, seed, confidence, threshold, aggregate: as in ``bootstrap_metric``.

  Returns:
    {'metric', 'level', 'a', 'b' (point estimates), 'estimate' (a - b), 'low', 'high',
    'n_boot', 'confidence'}.
  """
  _check_options([metric], level, n_boot, confidence)
  if len(p_a) != len(p_b):
    raise ValueError(f'the two methods score {len(p_a)} and {len(p_b)} records: they must score the same records')
  unit_labels, scores_a, unit_event, event_labels = _units(level, labels, p_a, event_ids, aggregate)
  _, scores_b, _, _ = _units(level, labels, p_b, event_ids, aggregate)
  counts = resample_event_counts(event_labels, n_boot, np.random.default_rng(seed))
  differences = (_replicates([metric], unit_labels, scores_a, unit_event, counts, threshold)[metric]
                 - _replicates([metric], unit_labels, scores_b, unit_event, counts, threshold)[metric])
  low, high = _interval(differences, confidence)
  a, b = _point(metric, unit_labels, scores_a, threshold), _point(metric, unit_labels, scores_b, threshold)
  return {'metric': metric, 'level': level, 'a': a, 'b': b, 'estimate': a - b, 'low': low, 'high': high,
          'n_boot': n_boot, 'confidence': confidence}


def class_counts(labels, event_ids) -> dict[str, dict[str, int]]:
  """{'events': {'tectonic': n, 'non_tectonic': n}, 'records': {...}}."""
  _, event_labels, _ = event_index(event_ids, labels)
  labels = np.asarray(labels)
  per_class = lambda values: {'tectonic': int(np.sum(values == TECTONIC)),
                              'non_tectonic': int(np.sum(values == NON_TECTONIC))}
  return {'events': per_class(event_labels), 'records': per_class(labels)}


def summary_with_intervals(labels, p_tectonic, event_ids, *, n_boot: int = 2000, seed: int = 0,
                           confidence: float = 0.95, threshold: float = THRESHOLD,
                           aggregate: Aggregate = metrics.event_probabilities) -> dict:
  """AUC, sensitivity, specificity and balanced accuracy at record and event level, with intervals.

  One set of event resamples serves every figure at both levels.

  Args:
    labels, p_tectonic, event_ids, n_boot, seed, confidence, threshold, aggregate: as in
      ``bootstrap_metric``.

  Returns:
    A JSON-ready dict: {'record': {metric: {'estimate', 'low', 'high'}}, 'event': {...},
    'counts': ``class_counts``, 'n_boot', 'confidence', 'threshold'}.
  """
  _check_options(METRICS, 'record', n_boot, confidence)
  _, event_labels, _ = event_index(event_ids, labels)
  counts = resample_event_counts(event_labels, n_boot, np.random.default_rng(seed))
  summary = {}
  for level in LEVELS:
    unit_labels, scores, unit_event, _ = _units(level, labels, p_tectonic, event_ids, aggregate)
    replicates = _replicates(METRICS, unit_labels, scores, unit_event, counts, threshold)
    point = metrics.classification_metrics(unit_labels, scores, threshold=threshold)
    summary[level] = {m: dict(zip(('estimate', 'low', 'high'),
                                  (float(point[m]), *_interval(replicates[m], confidence)))) for m in METRICS}
  return {**summary, 'counts': class_counts(labels, event_ids), 'n_boot': n_boot, 'confidence': confidence,
          'threshold': threshold}
