"""An evaluation's reports and files: the metrics dicts a run writes and the predictions it reads back.

A run folder's evaluation files:

  metrics.json         record metrics, Fig. 4 confidence shares, event metrics
  predictions.csv      record_id, event_id, event_type, label, p_tectonic
  confusion_matrix.png, roc_curve.png, confidence_histogram.png
"""

from __future__ import annotations

import csv
import json
import pathlib

import numpy as np

from ganet_jax.conventions import THRESHOLD
from ganet_jax.data.records import RecordSet
from ganet_jax.evaluation import metrics, plots

METRICS_FILE = 'metrics.json'
PREDICTIONS_FILE = 'predictions.csv'
PLOT_FILES = ('confusion_matrix.png', 'roc_curve.png', 'confidence_histogram.png')
EVALUATION_FILES = (METRICS_FILE, PREDICTIONS_FILE, *PLOT_FILES)


def validation_report(records: RecordSet, p_tectonic: np.ndarray, *, threshold: float = THRESHOLD) -> dict:
  """Record metrics plus event AUC and balanced accuracy: what a validation epoch is selected by.

  Takes what ``evaluation_report`` takes; returns ``metrics.classification_metrics`` plus
  'event_auc' and 'event_balanced_accuracy'.
  """
  report = metrics.classification_metrics(records.labels, p_tectonic, threshold=threshold)
  events = metrics.event_metrics(records.event_ids, records.event_types, records.labels, p_tectonic,
                                 threshold=threshold)
  report['event_auc'], report['event_balanced_accuracy'] = events['auc'], events['balanced_accuracy']
  return report


def evaluation_report(records: RecordSet, p_tectonic: np.ndarray, *, threshold: float = THRESHOLD) -> dict:
  """Record metrics, Fig. 4 confidence shares and event metrics of one evaluation.

  Args:
    records: the evaluated records (labels, event ids and types).
    p_tectonic: each record's probability of tectonic, in the records' order.
    threshold: records with ``p_tectonic >= threshold`` are called tectonic.

  Returns:
    ``metrics.classification_metrics`` plus 'confidence' (``metrics.confidence_shares``)
    and 'events' (``metrics.event_metrics``).
  """
  report = metrics.classification_metrics(records.labels, p_tectonic, threshold=threshold)
  report['confidence'] = metrics.confidence_shares(records.labels, p_tectonic)
  report['events'] = metrics.event_metrics(records.event_ids, records.event_types, records.labels,
                                           p_tectonic, threshold=threshold)
  return report


def write_evaluation(workdir: str | pathlib.Path, records: RecordSet, p_tectonic: np.ndarray, report: dict) -> None:
  """Write metrics.json (``report``), predictions.csv and the three PNGs into ``workdir``.

  Args:
    workdir: an existing folder.
    records: the evaluated records.
    p_tectonic: each record's probability of tectonic, in the records' order.
    report: the metrics to write (NaN is written as null).
  """
  workdir = pathlib.Path(workdir)
  (workdir / METRICS_FILE).write_text(json.dumps(json_ready(report), indent=2) + '\n')
  with open(workdir / PREDICTIONS_FILE, 'w', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(['record_id', 'event_id', 'event_type', 'label', 'p_tectonic'])
    writer.writerows(zip(records.record_ids, records.event_ids, records.event_types, records.labels,
                         (f'{p:.6f}' for p in p_tectonic)))
  confusion, roc, confidence = PLOT_FILES
  plots.plot_confusion(records.labels, p_tectonic, workdir / confusion)
  plots.plot_roc(records.labels, p_tectonic, workdir / roc)
  plots.plot_confidence(records.labels, p_tectonic, workdir / confidence)


def read_predictions(workdir: str | pathlib.Path, records: RecordSet) -> np.ndarray:
  """The p_tectonic a run wrote to predictions.csv, checked to list ``records`` in their order.

  Args:
    workdir: the run folder.
    records: the records the run evaluated.

  Returns:
    A float array, one probability per record.

  Raises:
    ValueError: if the file lists other records (the run evaluated another set).
  """
  path = pathlib.Path(workdir) / PREDICTIONS_FILE
  with open(path, newline='') as f:
    rows = list(csv.DictReader(f))
  if [row['record_id'] for row in rows] != [str(r) for r in records.record_ids]:
    raise ValueError(f'{path}: its records are not the ones evaluated here, or not in their order')
  return np.array([float(row['p_tectonic']) for row in rows])


def json_ready(value):
  """``value`` with NaN as None (JSON null) and numpy scalars as Python ones, through dicts, lists and tuples."""
  if isinstance(value, dict):
    return {k: json_ready(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [json_ready(v) for v in value]
  if isinstance(value, (float, np.floating)):
    return None if np.isnan(value) else float(value)
  if isinstance(value, np.integer):
    return int(value)
  return value
