"""Evaluation: probabilities over a record set, the paper's metrics, figures, and the physics baseline."""

from ganet_jax.evaluation.metrics import (classification_metrics, confidence_shares, confusion, event_metrics,
                                          event_probabilities, roc_auc, roc_curve)
from ganet_jax.evaluation.physics import LogisticModel, fit_logistic, ratio_features
from ganet_jax.evaluation.plots import plot_confidence, plot_confusion, plot_roc
from ganet_jax.evaluation.predict import predict_probabilities

__all__ = ['LogisticModel', 'classification_metrics', 'confidence_shares', 'confusion', 'event_metrics',
           'event_probabilities', 'fit_logistic', 'plot_confidence', 'plot_confusion', 'plot_roc',
           'predict_probabilities', 'ratio_features', 'roc_auc', 'roc_curve']
