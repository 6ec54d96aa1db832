"""Event aggregation rules against hand-computed values."""

import functools

import numpy as np
import pytest

from ganet_jax.evaluation import aggregation, intervals, metrics

# Event 'a' (tectonic): 0.9, 0.5. Event 'b' (non-tectonic): 0.2. Event 'c' (tectonic): 0.8, 0.6, 0.1.
EVENTS = np.array(['c', 'a', 'b', 'c', 'a', 'c'])
LABELS = np.array([0, 0, 1, 0, 0, 0])
P = np.array([0.8, 0.9, 0.2, 0.6, 0.5, 0.1])


def test_mean_probability_is_todays_rule_and_metrics_use_it():
  events, labels, p = aggregation.mean_probability(EVENTS, LABELS, P)
  assert events.tolist() == ['a', 'b', 'c'] and labels.tolist() == [0, 1, 0]
  assert p == pytest.approx([0.7, 0.2, 0.5])
  assert np.array_equal(metrics.event_probabilities(EVENTS, LABELS, P)[2], p)


def test_mean_logit_by_hand():
  _, _, p = aggregation.mean_logit(EVENTS, LABELS, P)
  # a: (log 9 + 0) / 2 = log 3 -> 3/4. c: (log 4 + log 1.5 - log 9) / 3 = log(2/3) / 3.
  c = (2 / 3) ** (1 / 3)
  assert p == pytest.approx([0.75, 0.2, c / (1 + c)])
  # A saturated float32 record is clipped, so it cannot outvote the others without bound.
  _, _, saturated = aggregation.mean_logit(['e', 'e'], [0, 0], [1.0, 0.0])
  assert saturated == pytest.approx([0.5])


def test_snr_weighted_by_hand_with_equal_weight_fallback():
  snr = np.array([10.0, 1000.0, 0.5, 100.0, 1.0, 1.0])
  weights = aggregation.snr_weights(snr)
  assert weights == pytest.approx([1, 3, 0, 2, 0, 0])
  _, _, p = aggregation.snr_weighted(EVENTS, LABELS, P, weights)
  # a: only the 0.9 record weighs; b: every weight 0, so the plain mean; c: (0.8 + 2 * 0.6) / 3.
  assert p == pytest.approx([0.9, 0.2, 2.0 / 3])
  with pytest.raises(ValueError, match='record 2 has -1.0'):
    aggregation.snr_weighted(EVENTS, LABELS, P, [1, 1, -1, 1, 1, 1])
  with pytest.raises(ValueError, match='record 0 has -2.0'):
    aggregation.snr_weights([-2.0])


def test_event_statistics_by_hand():
  events, _, features = aggregation.event_statistics(EVENTS, LABELS, P)
  assert events.tolist() == ['a', 'b', 'c']
  # a: logits log 9 and 0; c: log 4, log 1.5 and -log 9, whose median is the middle one.
  assert features[0] == pytest.approx([np.log(3), np.log(3)])
  assert features[1] == pytest.approx([np.log(0.25)] * 2)
  assert features[2] == pytest.approx([(np.log(4) + np.log(1.5) - np.log(9)) / 3, np.log(1.5)])


def test_event_statistics_are_the_same_for_records_listed_twice():
  twice = aggregation.event_statistics(np.r_[EVENTS, EVENTS], np.r_[LABELS, LABELS], np.r_[P, P])[2]
  np.testing.assert_allclose(twice, aggregation.event_statistics(EVENTS, LABELS, P)[2], rtol=0, atol=1e-12)


def _synthetic_events(seed, n=30):
  rng = np.random.default_rng(seed)
  labels = np.r_[np.zeros(n, int), np.ones(n, int)]
  records = rng.integers(1, 6, size=2 * n)
  event_ids = np.repeat([f'ev{i:03d}' for i in range(2 * n)], records)
  record_labels = np.repeat(labels, records)
  centre = np.where(record_labels == 0, 0.65, 0.4)
  return event_ids, record_labels, np.clip(centre + rng.normal(scale=0.2, size=len(event_ids)), 0, 1)


def test_learned_rule_fits_deterministically_separates_and_round_trips():
  train = _synthetic_events(0)
  rule = aggregation.fit_learned(*train)
  assert rule.to_json() == aggregation.fit_learned(*train).to_json()
  test = _synthetic_events(1)
  events, labels, p = aggregation.learned(*test, rule)
  assert np.all((p >= 0) & (p <= 1))
  assert metrics.roc_auc(labels, p) > 0.8
  assert (p[labels == 0].mean() > 0.5) and (p[labels == 1].mean() < 0.5)
  again = aggregation.LearnedAggregation.from_json(rule.to_json())
  assert np.array_equal(aggregation.learned(*test, again)[2], p)
  with pytest.raises(ValueError, match='both classes'):
    aggregation.fit_learned(['a', 'b'], [0, 0], [0.4, 0.6])


def test_dispatch_by_name_and_use_in_intervals():
  assert np.array_equal(aggregation.aggregate('mean_logit', EVENTS, LABELS, P)[2],
                        aggregation.mean_logit(EVENTS, LABELS, P)[2])
  with pytest.raises(ValueError, match="unknown aggregation rule 'median'"):
    aggregation.aggregate('median', EVENTS, LABELS, P)
  with pytest.raises(ValueError, match='needs per-record weights'):
    aggregation.aggregate('snr_weighted', EVENTS, LABELS, P)
  with pytest.raises(ValueError, match='needs a fitted rule'):
    aggregation.aggregate('learned', EVENTS, LABELS, P)
  event_ids, labels, p = _synthetic_events(2)
  by_logit = functools.partial(aggregation.aggregate, 'mean_logit')
  result = intervals.bootstrap_metric(labels, p, event_ids, metric='auc', level='event', n_boot=100,
                                      aggregate=by_logit)
  assert result['estimate'] == pytest.approx(metrics.roc_auc(*aggregation.mean_logit(event_ids, labels, p)[1:]))


def test_probabilities_outside_zero_one_are_refused_and_nan_passes_through():
  with pytest.raises(ValueError, match='record 1 has 1.5'):
    aggregation.mean_probability(['a', 'a'], [0, 0], [0.5, 1.5])
  assert np.isnan(aggregation.mean_probability(['a', 'a', 'b'], [0, 0, 1], [0.5, np.nan, 0.2])[2][0])


def _count_only_events(seed, n=40):
  """Tectonic events of 8-12 records, non-tectonic of 1-3, every record's probability drawn alike."""
  rng = np.random.default_rng(seed)
  labels = np.r_[np.zeros(n, int), np.ones(n, int)]
  records = np.where(labels == 0, rng.integers(8, 13, size=2 * n), rng.integers(1, 4, size=2 * n))
  event_ids = np.repeat([f'ev{i:03d}' for i in range(2 * n)], records)
  return event_ids, np.repeat(labels, records), rng.uniform(0.05, 0.95, size=len(event_ids))


def test_learned_rule_does_not_learn_the_number_of_records():
  rule = aggregation.fit_learned(*_count_only_events(0))
  # The same records make the same event, whether an event has them once or four times.
  records = np.array([0.3, 0.8, 0.6])
  few = aggregation.learned(['few'] * 3, [0] * 3, records, rule)[2]
  many = aggregation.learned(['many'] * 12, [0] * 12, np.tile(records, 4), rule)[2]
  assert many == pytest.approx(few, abs=1e-12)
  one = aggregation.learned(['one'], [0], [0.6], rule)[2]
  ten = aggregation.learned(['ten'] * 10, [0] * 10, [0.6] * 10, rule)[2]
  assert ten == pytest.approx(one, abs=1e-12)
  # The count told the classes apart perfectly in training; on new events of the same kind the
  # rule, which cannot see it, is no better than chance.
  _, labels, p = aggregation.learned(*_count_only_events(1), rule)
  assert abs(metrics.roc_auc(labels, p) - 0.5) < 0.15
