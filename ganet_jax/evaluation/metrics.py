"""Record- and event-level metrics with tectonic as the POSITIVE class (paper Section III-B).

Inputs are ``labels`` (0 tectonic, 1 non-tectonic) and ``p_tectonic``, the
probability of class 0. A record is called tectonic when ``p_tectonic >= threshold``
(0.5). With TP = tectonic called tectonic, FN = tectonic called non-tectonic,
FP = non-tectonic called tectonic, TN = non-tectonic called non-tectonic:

  sensitivity = TP / (TP + FN)                    (eq. 6)
  specificity = TN / (TN + FP)                    (eq. 7)
  accuracy    = (TP + TN) / (TP + TN + FP + FN)   (eq. 8)

A ratio with a zero denominator is NaN (written as null in JSON), never a guess.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ganet_jax.conventions import NON_TECTONIC, TECTONIC, THRESHOLD
from ganet_jax.evaluation import aggregation

CONFIDENT_BANDS = ((0.0, 0.2), (0.8, 1.0))


def confusion(labels, p_tectonic, *, threshold: float = THRESHOLD) -> dict[str, int]:
  """Counts ``tp fn fp tn`` with tectonic positive.

  Examples:
    >>> confusion([0, 0, 1, 1], [0.9, 0.4, 0.6, 0.1])  # label 0 (tectonic) is the positive class
    {'tp': 1, 'fn': 1, 'fp': 1, 'tn': 1}
  """
  labels = np.asarray(labels)
  called_tectonic = np.asarray(p_tectonic) >= threshold
  is_tectonic = labels == TECTONIC
  return {'tp': int(np.sum(is_tectonic & called_tectonic)),
          'fn': int(np.sum(is_tectonic & ~called_tectonic)),
          'fp': int(np.sum(~is_tectonic & called_tectonic)),
          'tn': int(np.sum(~is_tectonic & ~called_tectonic))}


def _ratio(numerator: float, denominator: float) -> float:
  return numerator / denominator if denominator else float('nan')


def classification_metrics(labels, p_tectonic, *, threshold: float = THRESHOLD) -> dict:
  """Sensitivity, specificity, accuracy, precision, F1, balanced accuracy, confusion, AUC.

  Args:
    labels: (n,) 0 tectonic / 1 non-tectonic.
    p_tectonic: (n,) probability of tectonic.
    threshold: records with ``p_tectonic >= threshold`` are called tectonic.

  Returns:
    A JSON-ready dict (floats, NaN where undefined; ``confusion`` as a dict).
    ``collapsed_to_one_class`` is True when every record (of two or more) got the
    same call: such a run's accuracy is the class share, not skill (and where the
    records hold one class, their figures cannot tell skill from a collapse).

  Examples:
    >>> m = classification_metrics([0, 0, 1, 1], [0.9, 0.8, 0.6, 0.1])
    >>> m['sensitivity'], m['specificity'], m['auc'], m['confusion']['fp']
    (1.0, 0.5, 1.0, 1)
  """
  counts = confusion(labels, p_tectonic, threshold=threshold)
  tp, fn, fp, tn = counts['tp'], counts['fn'], counts['fp'], counts['tn']
  sensitivity = _ratio(tp, tp + fn)
  specificity = _ratio(tn, tn + fp)
  precision = _ratio(tp, tp + fp)
  return {
      'sensitivity': sensitivity,
      'specificity': specificity,
      'accuracy': _ratio(tp + tn, tp + tn + fp + fn),
      'precision': precision,
      'f1': _ratio(2 * precision * sensitivity, precision + sensitivity),
      'balanced_accuracy': (sensitivity + specificity) / 2,
      'auc': roc_auc(labels, p_tectonic),
      'confusion': counts,
      'n_records': int(len(np.asarray(labels))),
      'collapsed_to_one_class': collapsed_to_one_class(labels, p_tectonic, threshold=threshold),
  }


def collapsed_to_one_class(labels, p_tectonic, *, threshold: float = THRESHOLD) -> bool:
  """True when two or more records are all called the same class, whatever classes they hold.

  Examples:
    >>> collapsed_to_one_class([0, 1], [0.9, 0.8]), collapsed_to_one_class([1, 1], [0.1, 0.2])
    (True, True)
    >>> collapsed_to_one_class([0, 1], [0.9, 0.1]), collapsed_to_one_class([1], [0.1])
    (False, False)
  """
  called_tectonic = np.asarray(p_tectonic) >= threshold
  return bool(len(called_tectonic) > 1 and (called_tectonic.all() or not called_tectonic.any()))


def roc_curve(labels, p_tectonic) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """ROC curve of "tectonic" against every distinct probability threshold.

  Returns:
    (false_positive_rate, true_positive_rate, thresholds), starting at (0, 0) with
    threshold +inf; point i counts records with ``p_tectonic >= thresholds[i]``.

  Examples:
    >>> fpr, tpr, thresholds = roc_curve([0, 0, 1, 1], [0.9, 0.4, 0.6, 0.1])
    >>> fpr.tolist(), tpr.tolist(), thresholds.tolist()
    ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0], [inf, 0.9, 0.6, 0.4, 0.1])
  """
  labels = np.asarray(labels)
  scores = np.asarray(p_tectonic, np.float64)
  order = np.argsort(-scores, kind='stable')
  scores, positive = scores[order], labels[order] == TECTONIC
  # Tied scores cross a threshold together: keep the last index of each run of ties.
  last_of_tie = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
  true_positives = np.cumsum(positive)[last_of_tie]
  false_positives = np.cumsum(~positive)[last_of_tie]
  tpr = np.r_[0.0, true_positives / max(positive.sum(), 1)] if positive.any() else np.full(len(last_of_tie) + 1, np.nan)
  fpr = np.r_[0.0, false_positives / max((~positive).sum(), 1)] if (~positive).any() else np.full(len(last_of_tie) + 1, np.nan)
  return fpr, tpr, np.r_[np.inf, scores[last_of_tie]]


def roc_auc(labels, p_tectonic) -> float:
  """Area under the ROC curve (trapezoids); NaN when only one class is present.

  Examples:
    >>> roc_auc([0, 0, 1, 1], [0.9, 0.4, 0.6, 0.1])
    0.75
    >>> roc_auc([0, 0], [0.9, 0.4])
    nan
  """
  fpr, tpr, _ = roc_curve(labels, p_tectonic)
  if np.isnan(fpr).any() or np.isnan(tpr).any():
    return float('nan')
  return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def weighted_roc_auc(labels, p_tectonic, weights) -> np.ndarray:
  """AUC of "tectonic" with each record counted ``weights`` times, for many weightings at once.

  With integer weights this is ``roc_auc`` over the records repeated that many times
  (a bootstrap resample written as counts), ties counting one half:
  ``sum_{i tectonic, j not} w_i w_j [p_i > p_j] + w_i w_j [p_i == p_j] / 2``
  over ``sum_i w_i * sum_j w_j``. One sort serves every row of ``weights``.

  Args:
    labels: (n,) 0 tectonic / 1 non-tectonic.
    p_tectonic: (n,) probability of tectonic.
    weights: (n,) or (b, n) non-negative weights.

  Returns:
    () or (b,) float64 AUCs; NaN where a class has zero total weight.
  """
  labels, scores = np.asarray(labels), np.asarray(p_tectonic, np.float64)
  weights = np.asarray(weights, np.float64)
  if not len(scores):
    return np.full(weights.shape[:-1], np.nan)
  order = np.argsort(scores, kind='stable')
  scores, positive = scores[order], labels[order] == TECTONIC
  sorted_weights = weights[..., order]
  # Records of one score form a group: within it a pair counts one half.
  starts = np.r_[0, np.flatnonzero(np.diff(scores)) + 1]
  positive_weight = np.add.reduceat(sorted_weights * positive, starts, axis=-1)
  negative_weight = np.add.reduceat(sorted_weights * ~positive, starts, axis=-1)
  negative_below = np.cumsum(negative_weight, axis=-1) - negative_weight
  pairs = np.sum(positive_weight * (negative_below + negative_weight / 2), axis=-1)
  total = positive_weight.sum(-1) * negative_weight.sum(-1)
  with np.errstate(invalid='ignore', divide='ignore'):
    return np.where(total > 0, pairs / np.where(total > 0, total, 1), np.nan)


def weighted_rates(labels, p_tectonic, weights, *, threshold: float = THRESHOLD) -> dict[str, np.ndarray]:
  """Sensitivity, specificity and balanced accuracy with each record counted ``weights`` times.

  Integer weights give ``classification_metrics``' figures over the repeated records.

  Args:
    labels: (n,) 0 tectonic / 1 non-tectonic.
    p_tectonic: (n,) probability of tectonic; ``>= threshold`` is called tectonic.
    weights: (n,) or (b, n) non-negative weights.

  Returns:
    {'sensitivity', 'specificity', 'balanced_accuracy'}: () or (b,) arrays, NaN where a
    class has zero total weight.
  """
  is_tectonic = np.asarray(labels) == TECTONIC
  called_tectonic = np.asarray(p_tectonic) >= threshold
  weights = np.asarray(weights, np.float64)
  tectonic_weight, other_weight = weights @ is_tectonic, weights @ ~is_tectonic
  with np.errstate(invalid='ignore', divide='ignore'):
    sensitivity = np.where(tectonic_weight > 0, (weights @ (is_tectonic & called_tectonic)) / tectonic_weight, np.nan)
    specificity = np.where(other_weight > 0, (weights @ (~is_tectonic & ~called_tectonic)) / other_weight, np.nan)
  return {'sensitivity': sensitivity, 'specificity': specificity,
          'balanced_accuracy': (sensitivity + specificity) / 2}


def confidence_shares(labels, p_tectonic, *, bands: Sequence[tuple[float, float]] = CONFIDENT_BANDS) -> dict:
  """Fig. 4's statistic: share of each class's records with ``p_tectonic`` in a confident band.

  Returns:
    {'tectonic': share, 'non_tectonic': share} with bands closed on both ends
    ([0, 0.2] or [0.8, 1] by default); NaN for a class without records.
  """
  labels = np.asarray(labels)
  p = np.asarray(p_tectonic)
  confident = np.zeros(len(p), bool)
  for low, high in bands:
    confident |= (p >= low) & (p <= high)
  share = lambda cls: float(np.mean(confident[labels == cls])) if np.any(labels == cls) else float('nan')
  return {'tectonic': share(TECTONIC), 'non_tectonic': share(NON_TECTONIC)}


def event_probabilities(event_ids, labels, p_tectonic) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Event-level probabilities: the MEAN of the event's records' ``p_tectonic``.

  The rule (``aggregation.mean_probability``): every record of an event votes with its
  probability, all stations weigh the same, and the event is called tectonic when the
  mean is >= 0.5. ``evaluation.aggregation`` holds the other rules.

  Returns:
    (event ids sorted, their labels, their mean probability of tectonic).

  Raises:
    ValueError: if an event's records disagree on the label.

  Examples:
    >>> events, labels, p = event_probabilities(['b', 'a', 'a'], [1, 0, 0], [0.2, 0.9, 0.5])
    >>> events.tolist(), labels.tolist(), p.tolist()
    (['a', 'b'], [0, 1], [0.7, 0.2])
  """
  return aggregation.mean_probability(event_ids, labels, p_tectonic)


def event_metrics(event_ids, event_types, labels, p_tectonic, *, threshold: float = THRESHOLD) -> dict:
  """Metrics over events (mean-probability rule), with misclassified events counted by type.

  Returns:
    ``classification_metrics`` over events plus ``n_events``, ``misclassified_by_type``
    ({event type: count}), ``events_by_type`` and ``misclassified`` (the event ids).
  """
  events, event_labels, p_event = event_probabilities(event_ids, labels, p_tectonic)
  metrics = classification_metrics(event_labels, p_event, threshold=threshold)
  metrics.pop('n_records')
  first = {event: i for i, event in reversed(list(enumerate(np.asarray(event_ids))))}
  types = np.asarray(event_types)[[first[e] for e in events]]
  wrong = (p_event >= threshold) != (event_labels == TECTONIC)
  metrics['n_events'] = int(len(events))
  metrics['events_by_type'] = {str(t): int(np.sum(types == t)) for t in np.unique(types)}
  metrics['misclassified_by_type'] = {str(t): int(np.sum(wrong & (types == t))) for t in np.unique(types)}
  metrics['misclassified'] = [str(e) for e in events[wrong]]
  return metrics
