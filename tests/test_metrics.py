"""Metrics against hand-computed values and scikit-learn."""

import numpy as np
import pytest
from sklearn import metrics as sk

from ganet_jax.evaluation import metrics

# tectonic (0) is positive. Records: 4 tectonic, 3 non-tectonic.
LABELS = np.array([0, 0, 0, 0, 1, 1, 1])
P_TECTONIC = np.array([0.9, 0.6, 0.4, 0.95, 0.1, 0.7, 0.15])
# called tectonic (p >= 0.5): 1 1 0 1 | 0 1 0 -> tp 3, fn 1, fp 1, tn 2


def test_record_metrics_by_hand():
  got = metrics.classification_metrics(LABELS, P_TECTONIC)
  assert got['confusion'] == {'tp': 3, 'fn': 1, 'fp': 1, 'tn': 2}
  assert got['sensitivity'] == pytest.approx(3 / 4)
  assert got['specificity'] == pytest.approx(2 / 3)
  assert got['accuracy'] == pytest.approx(5 / 7)
  assert got['precision'] == pytest.approx(3 / 4)
  assert got['f1'] == pytest.approx(3 / 4)
  assert got['balanced_accuracy'] == pytest.approx((3 / 4 + 2 / 3) / 2)
  # AUC by hand: of 12 (tectonic, non-tectonic) pairs, the tectonic one scores higher in 10
  # (0.4 loses to 0.7 and the 0.6 loses to 0.7).
  assert got['auc'] == pytest.approx(10 / 12)
  assert got['n_records'] == 7


def test_record_metrics_match_scikit_learn():
  rng = np.random.default_rng(0)
  labels = rng.integers(0, 2, 200)
  p = np.round(rng.uniform(size=200), 2)  # rounded: plenty of ties
  got = metrics.classification_metrics(labels, p)
  is_tectonic, called = labels == 0, p >= 0.5
  assert got['sensitivity'] == pytest.approx(sk.recall_score(is_tectonic, called))
  assert got['specificity'] == pytest.approx(sk.recall_score(~is_tectonic, ~called))
  assert got['accuracy'] == pytest.approx(sk.accuracy_score(is_tectonic, called))
  assert got['precision'] == pytest.approx(sk.precision_score(is_tectonic, called))
  assert got['f1'] == pytest.approx(sk.f1_score(is_tectonic, called))
  assert got['balanced_accuracy'] == pytest.approx(sk.balanced_accuracy_score(is_tectonic, called))
  assert got['auc'] == pytest.approx(sk.roc_auc_score(is_tectonic, p))
  fpr, tpr, thresholds = metrics.roc_curve(labels, p)
  sk_fpr, sk_tpr, sk_thresholds = sk.roc_curve(is_tectonic, p, drop_intermediate=False)
  np.testing.assert_allclose(fpr, sk_fpr)
  np.testing.assert_allclose(tpr, sk_tpr)
  np.testing.assert_allclose(thresholds[1:], sk_thresholds[1:])
  tn, fp, fn, tp = sk.confusion_matrix(is_tectonic, called, labels=[False, True]).ravel()
  assert got['confusion'] == {'tp': tp, 'fn': fn, 'fp': fp, 'tn': tn}


def test_undefined_ratios_are_nan():
  got = metrics.classification_metrics(np.array([0, 0]), np.array([0.9, 0.2]))
  assert np.isnan(got['specificity']) and np.isnan(got['auc'])
  assert got['sensitivity'] == 0.5


def test_confidence_shares_fig4():
  # tectonic: 0.9, 0.6, 0.4, 0.95 -> 2 of 4 in [0.8, 1]; non-tectonic: 0.1, 0.7, 0.15 -> 2 of 3 in [0, 0.2]
  shares = metrics.confidence_shares(LABELS, P_TECTONIC)
  assert shares == pytest.approx({'tectonic': 0.5, 'non_tectonic': 2 / 3})
  # Closed bands: 0.2 and 0.8 count as confident.
  assert metrics.confidence_shares([0, 1], [0.8, 0.2]) == pytest.approx({'tectonic': 1.0, 'non_tectonic': 1.0})


def test_event_metrics_mean_rule_and_types():
  event_ids = np.array(['a', 'a', 'b', 'b', 'c', 'c', 'd'])
  types = np.array(['earthquake'] * 4 + ['collapse', 'collapse', 'explosion'])
  # events: a mean 0.75 (tectonic, right), b mean 0.675 (right), c mean 0.4 (non-tectonic, right),
  # d 0.15 (right) -> change d to 0.9 to misclassify the explosion.
  p = P_TECTONIC.copy()
  p[6] = 0.9
  got = metrics.event_metrics(event_ids, types, LABELS, p)
  assert got['n_events'] == 4
  assert got['confusion'] == {'tp': 2, 'fn': 0, 'fp': 1, 'tn': 1}
  assert got['misclassified'] == ['d']
  assert got['misclassified_by_type'] == {'collapse': 0, 'earthquake': 0, 'explosion': 1}
  assert got['events_by_type'] == {'collapse': 1, 'earthquake': 2, 'explosion': 1}
  events, _, p_event = metrics.event_probabilities(event_ids, LABELS, p)
  np.testing.assert_allclose(p_event, [0.75, 0.675, 0.4, 0.9])


def test_event_with_mixed_labels_is_an_error():
  with pytest.raises(ValueError, match="'a'"):
    metrics.event_probabilities(['a', 'a'], [0, 1], [0.5, 0.5])


def test_a_run_that_calls_everything_one_class_is_flagged():
  labels = np.array([0, 0, 0, 1])
  assert metrics.classification_metrics(labels, np.array([0.9, 0.8, 0.7, 0.6]))['collapsed_to_one_class']
  assert metrics.classification_metrics(labels, np.array([0.1, 0.2, 0.3, 0.4]))['collapsed_to_one_class']
  assert not metrics.classification_metrics(labels, np.array([0.9, 0.8, 0.7, 0.4]))['collapsed_to_one_class']
  # one class present and called everywhere: the figures cannot tell skill from a collapse
  assert metrics.classification_metrics(np.array([1, 1]), np.array([0.1, 0.2]))['collapsed_to_one_class']
  assert metrics.classification_metrics(np.array([1, 1]), np.array([0.9, 0.8]))['collapsed_to_one_class']
  assert not metrics.classification_metrics(np.array([1, 1]), np.array([0.9, 0.2]))['collapsed_to_one_class']
  assert not metrics.classification_metrics(np.array([1]), np.array([0.2]))['collapsed_to_one_class']
  events = metrics.event_metrics(np.array(['a', 'a', 'b', 'c']), np.array(['eq', 'eq', 'eq', 'ex']), labels,
                                 np.array([0.9, 0.8, 0.7, 0.6]))
  assert events['collapsed_to_one_class']


def test_equal_record_probabilities_stay_tied_at_event_level():
  rng = np.random.default_rng(0)
  events = np.repeat([f'e{i}' for i in range(40)], rng.integers(1, 9, 40))
  labels = np.array([int(e[1:]) % 3 == 0 for e in events], int)
  constant = np.full(len(events), 0.7345)
  assert metrics.event_metrics(events, np.full(len(events), 'x'), labels, constant)['auc'] == 0.5
