"""Station-novelty, magnitude and signal-to-noise controls: fitted on training, oriented by it."""

import numpy as np
import pytest

from ganet_jax.evaluation import controls, metrics


def test_station_novelty_calls_unseen_stations_non_tectonic():
  p = controls.station_novelty_control(['UW.A', 'UW.B', 'UW.A'], ['UW.B', 'UW.C', 'CN.A', 'UW.A'])
  assert p.tolist() == [1.0, 0.0, 0.0, 1.0]
  # Explosions at new stations, earthquakes at known ones: novelty alone separates them.
  assert metrics.roc_auc([0, 1, 1, 0], p) == 1.0


def _magnitudes(seed, n=200, explosions_larger=True):
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, 2, n)
  shift = 0.8 if explosions_larger else -0.8
  return rng.normal(0.6, 0.4, n) + shift * labels, labels


@pytest.mark.parametrize('explosions_larger', [True, False])
def test_magnitude_control_is_oriented_by_the_training_records(explosions_larger):
  train_m, train_labels = _magnitudes(0, explosions_larger=explosions_larger)
  test_m, test_labels = _magnitudes(1, explosions_larger=explosions_larger)
  p = controls.magnitude_control(train_m, train_labels, test_m)
  assert np.all((p >= 0) & (p <= 1))
  assert metrics.roc_auc(test_labels, p) > 0.8
  low, high = controls.magnitude_control(train_m, train_labels, [0.0, 2.0])
  assert (low > 0.5 > high) if explosions_larger else (low < 0.5 < high)
  assert metrics.classification_metrics(test_labels, p)['balanced_accuracy'] > 0.75  # the 0.5 cut is a good one
  # Trained on the opposite direction, the same test records rank the wrong way round.
  flipped = controls.magnitude_control(train_m, 1 - train_labels, test_m)
  assert metrics.roc_auc(test_labels, flipped) < 0.2


def test_magnitude_control_gives_half_without_a_magnitude_and_needs_both_classes():
  train_m, train_labels = _magnitudes(0)
  train_m[:20] = np.nan  # left out of the fit
  p = controls.magnitude_control(train_m, train_labels, [np.nan, 0.0])
  assert p[0] == 0.5 and p[1] > 0.5
  with pytest.raises(ValueError, match='both classes'):
    controls.magnitude_control([1.0, 2.0, np.nan], [0, 0, 1], [1.0])


def test_snr_control_works_on_the_log_and_refuses_non_positive_ratios():
  rng = np.random.default_rng(0)
  labels = rng.integers(0, 2, 200)
  snr = 10 ** (rng.normal(1.0, 0.5, 200) + 1.0 * (labels == 0))  # tectonic records louder here
  p = controls.snr_control(snr[:100], labels[:100], snr[100:])
  assert metrics.roc_auc(labels[100:], p) > 0.8
  assert controls.snr_control(snr[:100], labels[:100], [1000.0])[0] > 0.5
  with pytest.raises(ValueError, match='validation record 1 has 0.0'):
    controls.snr_control(snr[:100], labels[:100], [10.0, 0.0])
