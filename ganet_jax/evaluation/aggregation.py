"""Rules that combine an event's records into one event probability of tectonic.

Every rule takes the records' ``(event_ids, labels, p_tectonic)`` and returns
``(sorted event ids, their labels, their probability of tectonic)``, the shape
``metrics.event_probabilities`` and the ``aggregate=`` argument of
``evaluation.intervals`` take:

  mean_probability  the mean of the records' probabilities: every station weighs the same.
  mean_logit        the mean of the records' logits, mapped back through the sigmoid: a
                    confident record moves the event more than under the mean probability.
  snr_weighted      the mean probability weighted per record (e.g. ``snr_weights``: the
                    log10 of its signal-to-noise ratio, clipped at 0), so a record
                    buried in noise counts little.
  learned           a small logistic regression from the mean and median of an event's
                    record logits (``event_statistics``) to its label, fitted on events of
                    the training years (``fit_learned``); it never sees how many records
                    an event has.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ganet_jax.conventions import NON_TECTONIC
from ganet_jax.evaluation.physics import LogisticModel, fit_logistic, sigmoid

RULES = ('mean_probability', 'mean_logit', 'snr_weighted', 'learned')
# Probabilities are clipped this far from 0 and 1 before taking logits: a float32 softmax
# saturates at exactly 1.0, whose logit would be infinite and outvote every other record.
LOGIT_EPSILON = 1e-6
# Event probabilities are rounded to this many decimals: summing k equal numbers and dividing
# by k can miss the value by an ulp, which would break ties between events.
DECIMALS = 12
# The learned rule's inputs: statistics of the records' evidence whose expected value does not
# move with the number of records (see ``event_statistics``).
STATISTICS = ('mean_logit', 'median_logit')
PARAMETER_FIELDS = ('statistics', 'mean', 'scale', 'weights', 'bias')  # a fitted rule's, as ``to_json`` writes them


def event_index(event_ids, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """The events of the records, their labels and each record's event position.

  Returns:
    (events sorted, event labels, (n,) index of each record's event in ``events``).

  Raises:
    ValueError: if the arrays differ in length or an event's records disagree on the label.

  Examples:
    >>> events, labels, index = event_index(['b', 'a', 'b'], [1, 0, 1])
    >>> events.tolist(), labels.tolist(), index.tolist()
    (['a', 'b'], [0, 1], [1, 0, 1])
  """
  event_ids, labels = np.asarray(event_ids), np.asarray(labels)
  if len(event_ids) != len(labels):
    raise ValueError(f'{len(event_ids)} event ids for {len(labels)} labels: one of each per record')
  events, inverse = np.unique(event_ids, return_inverse=True)
  inverse = inverse.reshape(-1)
  event_labels = np.zeros(len(events), labels.dtype)
  event_labels[inverse] = labels
  disagree = labels != event_labels[inverse]
  if disagree.any():
    raise ValueError(f'event {str(event_ids[disagree][0])!r} has records with different labels')
  return events, event_labels, inverse


def _probabilities(p_tectonic, count: int) -> np.ndarray:
  p = np.asarray(p_tectonic, np.float64)
  if p.shape != (count,):
    raise ValueError(f'{p.shape} probabilities for {count} records: one per record')
  # NaN passes through (a diverged model's records give NaN event probabilities, as before);
  # a number outside [0, 1] is not a probability.
  bad = (p < 0) | (p > 1)
  if bad.any():
    raise ValueError(f'probabilities must lie in [0, 1]; record {int(np.flatnonzero(bad)[0])} has {p[bad][0]}')
  return p


def _weighted_mean(values: np.ndarray, weights: np.ndarray, inverse: np.ndarray, count: int) -> np.ndarray:
  return np.bincount(inverse, weights=values * weights, minlength=count) / np.bincount(
      inverse, weights=weights, minlength=count)


def logit(p_tectonic) -> np.ndarray:
  """log(p / (1 - p)) of probabilities clipped to [``LOGIT_EPSILON``, 1 - ``LOGIT_EPSILON``].

  Examples:
    >>> logit([0.5, 0.9]).round(4).tolist()
    [0.0, 2.1972]
    >>> bool(logit([1.0])[0] < 40)  # clipped: a certain record stays finite
    True
  """
  p = np.clip(np.asarray(p_tectonic, np.float64), LOGIT_EPSILON, 1 - LOGIT_EPSILON)
  return np.log(p) - np.log1p(-p)


def mean_probability(event_ids, labels, p_tectonic) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Event probability = the mean of its records' probabilities of tectonic.

  Returns:
    (event ids sorted, their labels, their probability of tectonic).

  Examples:
    >>> mean_probability(['a', 'a', 'b'], [0, 0, 1], [0.9, 0.5, 0.2])[2].tolist()
    [0.7, 0.2]
  """
  events, event_labels, inverse = event_index(event_ids, labels)
  p = _probabilities(p_tectonic, len(inverse))
  return events, event_labels, np.round(_weighted_mean(p, np.ones_like(p), inverse, len(events)), DECIMALS)


def mean_logit(event_ids, labels, p_tectonic) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Event probability = sigmoid of the mean of its records' logits (``logit``).

  Returns:
    (event ids sorted, their labels, their probability of tectonic).

  Examples:
    >>> mean_logit(['a', 'a'], [0, 0], [0.9, 0.5])[2].tolist()  # sigmoid((log 9 + 0) / 2) = 3 / 4
    [0.75]
  """
  events, event_labels, inverse = event_index(event_ids, labels)
  z = logit(_probabilities(p_tectonic, len(inverse)))
  return events, event_labels, np.round(sigmoid(_weighted_mean(z, np.ones_like(z), inverse, len(events))), DECIMALS)


def snr_weights(snr) -> np.ndarray:
  """Record weights from signal-to-noise amplitude or power ratios: max(log10(snr), 0).

  A record whose signal does not rise above its noise (snr <= 1) weighs nothing.

  Examples:
    >>> snr_weights([0.5, 10.0, 100.0]).tolist()
    [0.0, 1.0, 2.0]
  """
  snr = np.asarray(snr, np.float64)
  bad = ~(snr >= 0)
  if bad.any():
    raise ValueError(f'signal-to-noise ratios must be >= 0; record {int(np.flatnonzero(bad)[0])} has {snr[bad][0]}')
  with np.errstate(divide='ignore'):
    return np.maximum(np.log10(snr), 0.0)


def snr_weighted(event_ids, labels, p_tectonic, weights) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Event probability = the weighted mean of its records' probabilities.

  An event whose records all weigh 0 (none above its noise) falls back to the plain
  mean, so it still gets a probability.

  Args:
    event_ids, labels, p_tectonic: (n,) per record.
    weights: (n,) non-negative finite weights, e.g. ``snr_weights(snr)``.

  Returns:
    (event ids sorted, their labels, their probability of tectonic).
  """
  events, event_labels, inverse = event_index(event_ids, labels)
  p = _probabilities(p_tectonic, len(inverse))
  weights = np.asarray(weights, np.float64)
  if weights.shape != p.shape:
    raise ValueError(f'{weights.shape} weights for {len(p)} records: one per record')
  bad = ~np.isfinite(weights) | (weights < 0)
  if bad.any():
    raise ValueError(f'weights must be finite and >= 0; record {int(np.flatnonzero(bad)[0])} has '
                     f'{weights[bad][0]}')
  unweighted = np.bincount(inverse, weights=weights, minlength=len(events))[inverse] == 0
  weights = np.where(unweighted, 1.0, weights)
  return events, event_labels, np.round(_weighted_mean(p, weights, inverse, len(events)), DECIMALS)


def event_statistics(event_ids, labels, p_tectonic) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Per event: the mean and the median of its records' logits (``STATISTICS``).

  Only statistics of what the records say about the source, never of how many there
  are: the number of records is a trait of the network and the catalogue (small
  explosions are recorded by few stations), so a rule that weighed it would call any
  well-recorded event tectonic. Both statistics are functions of the records' empirical
  distribution (an event whose records are each listed twice has the same ones), and
  for records drawn alike their expected value is the same for 1 record or 100; only
  their spread narrows as records accumulate. Extremes and spreads do not qualify: the
  expected maximum of n draws grows with n, the minimum falls, and a sample standard
  deviation is 0 for one record and shrinks by sqrt((n - 1) / n) for few, so each would
  bring the count back in. The median beside the mean lets the rule discount one
  record far from the others (a glitch, a record of another event) without looking at
  the count.

  Returns:
    (event ids sorted, their labels, (events, 2) statistics in the order of ``STATISTICS``).
  """
  events, event_labels, inverse = event_index(event_ids, labels)
  z = logit(_probabilities(p_tectonic, len(inverse)))
  count = len(events)
  records = np.bincount(inverse, minlength=count)
  mean = np.bincount(inverse, weights=z, minlength=count) / records
  ordered = z[np.lexsort((z, inverse))]  # each event's logits, ascending, events in order
  first = np.concatenate([[0], np.cumsum(records)[:-1]])
  median = 0.5 * (ordered[first + (records - 1) // 2] + ordered[first + records // 2])
  return events, event_labels, np.stack([mean, median], axis=1)


@dataclasses.dataclass(frozen=True)
class LearnedAggregation:
  """A fitted ``learned`` rule: a logistic regression on ``event_statistics``."""
  model: LogisticModel

  def to_json(self) -> dict:
    """The parameters as plain lists, for a manifest or model card."""
    return {'statistics': list(STATISTICS), 'mean': self.model.mean.tolist(), 'scale': self.model.scale.tolist(),
            'weights': self.model.weights.tolist(), 'bias': self.model.bias}

  @classmethod
  def from_json(cls, params: dict) -> 'LearnedAggregation':
    """The inverse of ``to_json``.

    Raises:
      ValueError: parameters for other statistics than ``STATISTICS`` (a rule fitted by
        another version of this library), or a field that is missing, of another length
        or not finite; the message starts with the field's name.
    """
    if not isinstance(params, dict):
      raise ValueError(f'must be an object with {", ".join(PARAMETER_FIELDS)}, not {type(params).__name__}')
    statistics = params.get('statistics')
    if not isinstance(statistics, list) or statistics != list(STATISTICS):
      raise ValueError(f'statistics {statistics!r}: this library computes {list(STATISTICS)}; refit the rule '
                       f"on them (aggregation.fit_learned) or name another rule, e.g. 'mean_probability'")
    values = {}
    for field in PARAMETER_FIELDS[1:]:
      value = params.get(field)
      try:
        values[field] = np.asarray(value, np.float64)
      except (TypeError, ValueError):
        raise ValueError(f'{field} {value!r}: not a number or list of numbers') from None
      shape, needs = ((), 'one finite number') if field == 'bias' else (
          (len(STATISTICS),), f'{len(STATISTICS)} finite numbers, one per statistic')
      if values[field].shape != shape or not np.all(np.isfinite(values[field])):
        raise ValueError(f'{field} {value!r}: needs {needs}')
    if np.any(values['scale'] <= 0):
      raise ValueError(f'scale {params["scale"]!r}: every scale must be > 0')
    return cls(LogisticModel(mean=values['mean'], scale=values['scale'], weights=values['weights'],
                             bias=float(values['bias'])))


def fit_learned(event_ids, labels, p_tectonic, *, l2: float = 1.0) -> LearnedAggregation:
  """Fits the ``learned`` rule on records of training events.

  The probabilities should be ones the model gave to events it did not train on (for
  example the validation predictions of forward folds over the training years): in-sample
  probabilities are overconfident, and a rule fitted on them trusts the records too much.
  Classes are balanced and the fit is Newton's method from zero, so it is deterministic.

  Args:
    event_ids, labels, p_tectonic: (n,) per training record.
    l2: ridge strength on the standardised statistics' weights; strong by default
      because a few dozen training events fit two correlated statistics.

  Returns:
    The fitted rule, for ``learned`` (or ``aggregate(..., learned=)``).

  Raises:
    ValueError: if the training events lack a class.
  """
  _, event_labels, features = event_statistics(event_ids, labels, p_tectonic)
  if len(np.unique(event_labels)) < 2:
    raise ValueError('the learned aggregation needs training events of both classes')
  return LearnedAggregation(fit_logistic(features, event_labels == NON_TECTONIC, l2=l2))


def learned(event_ids, labels, p_tectonic, rule: LearnedAggregation) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Event probability from a fitted ``LearnedAggregation`` (``fit_learned``).

  Returns:
    (event ids sorted, their labels, their probability of tectonic).
  """
  events, event_labels, features = event_statistics(event_ids, labels, p_tectonic)
  return events, event_labels, np.round(rule.model.p_tectonic(features), DECIMALS)


def aggregate(rule: str, event_ids, labels, p_tectonic, *, weights=None,
              learned_rule: LearnedAggregation | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Event probabilities by the rule of that name (one of ``RULES``).

  Args:
    rule: 'mean_probability', 'mean_logit', 'snr_weighted' or 'learned'.
    event_ids, labels, p_tectonic: (n,) per record.
    weights: (n,) record weights, for 'snr_weighted'.
    learned_rule: the fitted rule, for 'learned'.

  Returns:
    (event ids sorted, their labels, their probability of tectonic).

  Raises:
    ValueError: for an unknown rule or a missing ``weights`` / ``learned_rule``.

  Examples:
    >>> aggregate('mean_probability', ['a', 'a'], [0, 0], [0.9, 0.3])[2].tolist()
    [0.6]
    >>> aggregate('snr_weighted', ['a', 'a'], [0, 0], [0.9, 0.3], weights=[1.0, 2.0])[2].tolist()
    [0.5]
  """
  if rule == 'mean_probability':
    return mean_probability(event_ids, labels, p_tectonic)
  if rule == 'mean_logit':
    return mean_logit(event_ids, labels, p_tectonic)
  if rule == 'snr_weighted':
    if weights is None:
      raise ValueError("the 'snr_weighted' rule needs per-record weights (weights=)")
    return snr_weighted(event_ids, labels, p_tectonic, weights)
  if rule == 'learned':
    if learned_rule is None:
      raise ValueError("the 'learned' rule needs a fitted rule (learned_rule=fit_learned(...))")
    return learned(event_ids, labels, p_tectonic, learned_rule)
  raise ValueError(f'unknown aggregation rule {rule!r}; choose from {", ".join(RULES)}')
