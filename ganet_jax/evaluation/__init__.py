"""Evaluation: probabilities over a record set (one network or a vmapped ensemble), the paper's metrics,
event-resampling bootstrap intervals, an evaluation's reports and prediction files, figures, CBAM attention,
and the physics baseline."""

from ganet_jax.evaluation.attention import record_attention, spatial_attention
from ganet_jax.evaluation.intervals import bootstrap_metric, paired_bootstrap_difference, summary_with_intervals
from ganet_jax.evaluation.metrics import (classification_metrics, confidence_shares, confusion, event_metrics,
                                          event_probabilities, roc_auc, roc_curve)
from ganet_jax.evaluation.physics import LogisticModel, fit_logistic, ratio_features
from ganet_jax.evaluation.plots import plot_attention, plot_confidence, plot_confusion, plot_roc
from ganet_jax.evaluation.predict import predict_ensemble, predict_probabilities, stack_variables
from ganet_jax.evaluation.reports import (evaluation_report, json_ready, read_predictions, validation_report,
                                          write_evaluation)

__all__ = ['LogisticModel', 'bootstrap_metric', 'classification_metrics', 'confidence_shares', 'confusion',
           'evaluation_report', 'event_metrics', 'event_probabilities', 'fit_logistic', 'json_ready',
           'paired_bootstrap_difference', 'plot_attention', 'plot_confidence', 'plot_confusion', 'plot_roc',
           'predict_ensemble', 'predict_probabilities', 'ratio_features', 'read_predictions', 'record_attention',
           'roc_auc', 'roc_curve', 'spatial_attention', 'stack_variables', 'summary_with_intervals',
           'validation_report', 'write_evaluation']
