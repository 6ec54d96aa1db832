"""Losses: golden values, jit == eager, finite gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ganet_jax.training import losses

LOGITS = jnp.array([[2.0, -1.0], [0.5, 0.5], [-3.0, 1.0]])
LABELS = jnp.array([0, 1, 0])


def _log_softmax_of_label(logits, labels):
  logits = np.asarray(logits, np.float64)
  log_z = np.log(np.exp(logits).sum(-1))
  return logits[np.arange(len(labels)), np.asarray(labels)] - log_z


def test_cross_entropy_golden():
  expected = -_log_softmax_of_label(LOGITS, LABELS)
  np.testing.assert_allclose(losses.cross_entropy(LOGITS, LABELS), expected, rtol=1e-6)
  # Hand value of the first row: log(1 + e^-3).
  np.testing.assert_allclose(losses.cross_entropy(LOGITS, LABELS)[0], np.log1p(np.exp(-3.0)), rtol=1e-6)


def test_weighted_cross_entropy_scales_by_class_weight():
  weights = (0.25, 3.0)
  got = losses.weighted_cross_entropy(LOGITS, LABELS, class_weights=weights)
  expected = -_log_softmax_of_label(LOGITS, LABELS) * np.array([0.25, 3.0, 0.25])
  np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_focal_loss_golden_and_reduces_to_cross_entropy():
  log_p = _log_softmax_of_label(LOGITS, LABELS)
  expected = -(1 - np.exp(log_p)) ** 2 * log_p * np.array([0.3, 0.7, 0.3])
  np.testing.assert_allclose(losses.focal_loss(LOGITS, LABELS, gamma=2.0, alpha=(0.3, 0.7)), expected, rtol=1e-5)
  np.testing.assert_allclose(losses.focal_loss(LOGITS, LABELS, gamma=0.0),
                             losses.cross_entropy(LOGITS, LABELS), rtol=1e-6)
  # Focusing: an easy example loses more (relatively) than a hard one.
  ratio = losses.focal_loss(LOGITS, LABELS) / losses.cross_entropy(LOGITS, LABELS)
  assert ratio[0] < ratio[2]


@pytest.mark.parametrize('loss', [
    losses.cross_entropy,
    lambda l, y: losses.weighted_cross_entropy(l, y, class_weights=(1.0, 2.0)),
    lambda l, y: losses.focal_loss(l, y, gamma=2.0),
])
def test_jit_equals_eager_and_gradient_finite(loss):
  np.testing.assert_allclose(jax.jit(loss)(LOGITS, LABELS), loss(LOGITS, LABELS), rtol=1e-6)
  grad = jax.grad(lambda l: jnp.mean(loss(l, LABELS)))(LOGITS)
  assert np.all(np.isfinite(grad)) and np.any(grad != 0)
  # Confident, correct logits: the focal (1 - p)^gamma factor must not give NaN gradients.
  confident = jnp.array([[30.0, -30.0]])
  assert np.all(np.isfinite(jax.grad(lambda l: jnp.sum(loss(l, jnp.array([0]))))(confident)))


def test_balanced_class_weights():
  assert losses.balanced_class_weights([0, 0, 0, 1]) == pytest.approx([4 / 6, 2.0])
  assert losses.balanced_class_weights([0, 0]) == pytest.approx([0.5, 0.0])
  with pytest.raises(ValueError):
    losses.balanced_class_weights([])


def test_label_smoothing_golden_and_off_is_plain_cross_entropy():
  smoothed = losses.cross_entropy(LOGITS, LABELS, label_smoothing=0.2)
  log_probs = np.asarray(jax.nn.log_softmax(LOGITS), np.float64)
  targets = np.full((3, 2), 0.1) + 0.8 * np.eye(2)[np.asarray(LABELS)]
  np.testing.assert_allclose(smoothed, -(targets * log_probs).sum(-1), rtol=1e-6)
  np.testing.assert_allclose(losses.cross_entropy(LOGITS, LABELS, label_smoothing=0.0),
                             losses.cross_entropy(LOGITS, LABELS), rtol=1e-7)
  weighted = losses.weighted_cross_entropy(LOGITS, LABELS, class_weights=(1.0, 3.0), label_smoothing=0.2)
  np.testing.assert_allclose(weighted, np.array([1.0, 3.0, 1.0]) * smoothed, rtol=1e-6)


@pytest.mark.parametrize('gamma', [0.0, 0.5, 1.0, 2.0, 5.0])
def test_focal_gradient_is_finite_at_extreme_logits(gamma):
  logits = jnp.array([[10.0, -10.0], [-10.0, 10.0], [40.0, -40.0], [0.0, 0.0]])
  labels = jnp.array([0, 0, 0, 1])
  grads = jax.grad(lambda z: jnp.sum(losses.focal_loss(z, labels, gamma=gamma)))(logits)
  assert np.isfinite(np.asarray(grads)).all()
  # away from the extremes it is the textbook formula
  p_t = np.asarray(jax.nn.softmax(logits))[np.arange(4), np.asarray(labels)]
  expected = -((1 - p_t) ** gamma) * np.log(p_t)
  np.testing.assert_allclose(np.asarray(losses.focal_loss(logits, labels, gamma=gamma))[[0, 1, 3]], expected[[0, 1, 3]],
                             rtol=1e-5)


def test_loss_function_binds_its_options_once_per_setting():
  smoothed = losses.loss_function('cross_entropy', label_smoothing=0.1)
  assert smoothed is losses.loss_function('cross_entropy', label_smoothing=0.1)  # a static argument: one compile
  np.testing.assert_allclose(smoothed(LOGITS, LABELS), losses.cross_entropy(LOGITS, LABELS, label_smoothing=0.1))
  weighted = losses.loss_function('weighted_cross_entropy', label_smoothing=0.1, class_weights=(0.25, 3.0))
  np.testing.assert_allclose(weighted(LOGITS, LABELS), losses.weighted_cross_entropy(
      LOGITS, LABELS, class_weights=(0.25, 3.0), label_smoothing=0.1))
  np.testing.assert_allclose(losses.loss_function('focal', focal_gamma=1.0)(LOGITS, LABELS),
                             losses.focal_loss(LOGITS, LABELS, gamma=1.0))
  for bad, message in [(dict(name='focal', label_smoothing=0.1), 'not focal'),
                       (dict(name='weighted_cross_entropy'), 'class_weights go with'),
                       (dict(name='cross_entropy', class_weights=(1.0, 1.0)), 'class_weights go with'),
                       (dict(name='hinge'), "unknown loss 'hinge'")]:
    with pytest.raises(ValueError, match=message):
      losses.loss_function(**bad)
