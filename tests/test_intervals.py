"""Event-resampling bootstrap intervals and the weighted metrics behind them."""

import numpy as np
import pytest

from ganet_jax.evaluation import intervals, metrics


def _events(scores_by_event, labels_by_event, records_per_event=3):
  """Records of hand-made events: every record of an event carries its event's score and label."""
  event_ids = np.repeat([f'ev{i:03d}' for i in range(len(scores_by_event))], records_per_event)
  return (np.repeat(labels_by_event, records_per_event), np.repeat(scores_by_event, records_per_event).astype(float),
          event_ids)


def _noisy(n_per_class, seed=0, records_per_event=3):
  rng = np.random.default_rng(seed)
  labels = np.r_[np.zeros(n_per_class, int), np.ones(n_per_class, int)]
  scores = np.clip(np.where(labels == 0, 0.62, 0.38) + rng.normal(scale=0.2, size=len(labels)), 0, 1)
  return _events(scores, labels, records_per_event)


def test_weighted_metrics_with_counts_equal_the_metrics_of_repeated_records():
  rng = np.random.default_rng(1)
  labels = rng.integers(0, 2, 40)
  p = np.round(rng.uniform(size=40), 1)  # ties
  counts = rng.integers(0, 4, size=(5, 40))
  aucs = metrics.weighted_roc_auc(labels, p, counts)
  rates = metrics.weighted_rates(labels, p, counts)
  for i, row in enumerate(counts):
    repeated = np.repeat(np.arange(40), row)
    expected = metrics.classification_metrics(labels[repeated], p[repeated])
    assert aucs[i] == pytest.approx(expected['auc'])
    for name in ('sensitivity', 'specificity', 'balanced_accuracy'):
      assert rates[name][i] == pytest.approx(expected[name])
  assert metrics.weighted_roc_auc(labels, p, np.ones(40)) == pytest.approx(metrics.roc_auc(labels, p))
  assert np.isnan(metrics.weighted_roc_auc(labels, p, (labels == 0).astype(float)))


def test_resample_counts_are_stratified_whole_events():
  event_labels = np.array([0, 0, 0, 0, 0, 1, 1])
  counts = intervals.resample_event_counts(event_labels, 300, np.random.default_rng(0))
  assert counts.shape == (300, 7)
  assert np.all(counts[:, :5].sum(1) == 5) and np.all(counts[:, 5:].sum(1) == 2)
  assert counts.max() > 1 and (counts == 0).any()  # with replacement
  with pytest.raises(ValueError, match='no event of class 1'):
    intervals.resample_event_counts(np.zeros(4, int), 10, np.random.default_rng(0))


def test_interval_holds_the_estimate_and_narrows_with_more_events():
  # The same 16 events, then 8 copies of them as distinct events: the estimate stays, the interval narrows.
  labels, p, events = _noisy(8, seed=2)
  copies = 8
  tiled = (np.tile(labels, copies), np.tile(p, copies),
           np.char.add(np.repeat(np.arange(copies).astype(str), len(events)), np.tile(events, copies)))
  small = intervals.bootstrap_metric(labels, p, events, metric='auc', level='event', n_boot=1000, seed=3)
  large = intervals.bootstrap_metric(*tiled, metric='auc', level='event', n_boot=1000, seed=3)
  assert large['estimate'] == pytest.approx(small['estimate']) and small['estimate'] < 0.9
  for result in (small, large):
    assert result['low'] <= result['estimate'] <= result['high']
    assert result['n_boot'] == 1000 and result['confidence'] == 0.95
  assert (large['high'] - large['low']) < 0.5 * (small['high'] - small['low'])
  again = intervals.bootstrap_metric(labels, p, events, metric='auc', level='event', n_boot=1000, seed=3)
  assert again == small


def test_resampling_is_by_event_so_more_records_per_event_do_not_narrow_it():
  # Record-wise resampling would narrow by sqrt(10) when every event has 10x the records;
  # resampling events gives exactly the same draws, hence the same interval.
  few = intervals.bootstrap_metric(*_noisy(10, records_per_event=2), metric='sensitivity', level='record',
                                   n_boot=500, seed=0)
  many = intervals.bootstrap_metric(*_noisy(10, records_per_event=20), metric='sensitivity', level='record',
                                    n_boot=500, seed=0)
  assert many['low'] == pytest.approx(few['low']) and many['high'] == pytest.approx(few['high'])
  assert few['high'] - few['low'] > 0.2
  # A record-wise bootstrap of the 20-per-event data, for contrast, is far narrower.
  labels, p, _ = _noisy(10, records_per_event=20)
  rng = np.random.default_rng(0)
  draws = rng.integers(0, len(labels), size=(500, len(labels)))
  record_wise = [metrics.classification_metrics(labels[d], p[d])['sensitivity'] for d in draws]
  low, high = np.quantile(record_wise, [0.025, 0.975])
  assert high - low < 0.5 * (few['high'] - few['low'])


def test_perfect_classifier_has_auc_one_with_interval_one_to_one():
  data = _events(np.r_[np.linspace(0.6, 0.9, 5), np.linspace(0.1, 0.4, 4)],
                 np.r_[np.zeros(5, int), np.ones(4, int)])
  for level in ('record', 'event'):
    for metric in intervals.METRICS:
      result = intervals.bootstrap_metric(*data, metric=metric, level=level, n_boot=200)
      assert (result['estimate'], result['low'], result['high']) == (1.0, 1.0, 1.0)


def test_paired_difference_of_a_method_with_itself_is_exactly_zero_and_detects_a_better_one():
  labels, p, events = _noisy(20)
  same = intervals.paired_bootstrap_difference(labels, p, p, events, metric='auc', level='record', n_boot=300)
  assert (same['estimate'], same['low'], same['high']) == (0.0, 0.0, 0.0)
  better = np.where(labels == 0, 0.9, 0.1)
  gain = intervals.paired_bootstrap_difference(labels, better, p, events, metric='auc', level='event', n_boot=300)
  assert gain['a'] == 1.0 and gain['estimate'] == pytest.approx(1.0 - gain['b'])
  assert 0 < gain['low'] <= gain['estimate'] <= gain['high']
  with pytest.raises(ValueError, match='same records'):
    intervals.paired_bootstrap_difference(labels, p[:-1], p, events)


def test_summary_gives_both_levels_every_metric_and_class_counts():
  labels, p, events = _noisy(6, records_per_event=1)
  labels, p, events = np.append(labels, 1), np.append(p, 0.9), np.append(events, 'ev011')  # a second record of one event
  summary = intervals.summary_with_intervals(labels, p, events, n_boot=200, seed=1)
  assert summary['counts'] == {'events': {'tectonic': 6, 'non_tectonic': 6},
                               'records': {'tectonic': 6, 'non_tectonic': 7}}
  event_level = metrics.event_metrics(events, np.full(len(events), 'x'), labels, p)
  record_level = metrics.classification_metrics(labels, p)
  for level, expected in (('record', record_level), ('event', event_level)):
    for metric in intervals.METRICS:
      figure = summary[level][metric]
      assert figure['estimate'] == pytest.approx(expected[metric])
      assert figure['low'] <= figure['high']
  single = intervals.bootstrap_metric(labels, p, events, metric='specificity', level='event', n_boot=200, seed=1)
  assert (single['low'], single['high']) == (summary['event']['specificity']['low'],
                                             summary['event']['specificity']['high'])


def test_bad_input_is_named():
  labels, p, events = _noisy(4)
  with pytest.raises(ValueError, match="unknown metric 'f2'"):
    intervals.bootstrap_metric(labels, p, events, metric='f2')
  with pytest.raises(ValueError, match="unknown level 'station'"):
    intervals.bootstrap_metric(labels, p, events, level='station')
  with pytest.raises(ValueError, match="event 'ev000' has records with different labels"):
    intervals.bootstrap_metric(np.r_[1, labels[1:]], p, events)
  with pytest.raises(ValueError, match='no event of class 1'):
    intervals.bootstrap_metric(np.zeros(len(labels), int), p, events)
