"""PNG figures of an evaluation: confusion matrix, ROC curve, confidence histogram (Fig. 4)."""

from __future__ import annotations

import pathlib

import matplotlib

matplotlib.use('Agg')  # files only; no display on servers
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ganet_jax.conventions import CLASS_NAMES, NON_TECTONIC, TECTONIC  # noqa: E402
from ganet_jax.evaluation.metrics import confusion, roc_auc, roc_curve  # noqa: E402


def _save(figure, path: pathlib.Path) -> pathlib.Path:
  figure.tight_layout()
  figure.savefig(path, dpi=120, bbox_inches='tight')
  plt.close(figure)
  return path


def plot_confusion(labels, p_tectonic, path) -> pathlib.Path:
  """Confusion matrix (rows true class, columns predicted), tectonic first."""
  counts = confusion(labels, p_tectonic)
  matrix = np.array([[counts['tp'], counts['fn']], [counts['fp'], counts['tn']]])
  figure, axes = plt.subplots(figsize=(4, 3.5))
  axes.imshow(matrix, cmap='Blues')
  for (row, column), value in np.ndenumerate(matrix):
    axes.text(column, row, str(value), ha='center', va='center',
              color='white' if value > matrix.max() / 2 else 'black')
  axes.set_xticks([0, 1], CLASS_NAMES)
  axes.set_yticks([0, 1], CLASS_NAMES)
  axes.set_xlabel('predicted')
  axes.set_ylabel('true')
  return _save(figure, pathlib.Path(path))


def plot_roc(labels, p_tectonic, path) -> pathlib.Path:
  """ROC curve with tectonic positive, AUC in the legend."""
  fpr, tpr, _ = roc_curve(labels, p_tectonic)
  figure, axes = plt.subplots(figsize=(4, 4))
  axes.plot(fpr, tpr, label=f'AUC = {roc_auc(labels, p_tectonic):.3f}')
  axes.plot([0, 1], [0, 1], ':', color='grey')
  axes.set_xlabel('false positive rate (1 - specificity)')
  axes.set_ylabel('true positive rate (sensitivity)')
  axes.legend(loc='lower right')
  return _save(figure, pathlib.Path(path))


def plot_confidence(labels, p_tectonic, path, *, bins: int = 10) -> pathlib.Path:
  """Histogram of the probability of tectonic per true class (the paper's Fig. 4)."""
  labels = np.asarray(labels)
  p = np.asarray(p_tectonic)
  figure, axes = plt.subplots(figsize=(5, 3.5))
  for cls in (TECTONIC, NON_TECTONIC):
    axes.hist(p[labels == cls], bins=bins, range=(0, 1), alpha=0.6, label=CLASS_NAMES[cls])
  for edge in (0.2, 0.8):
    axes.axvline(edge, ls=':', color='grey')
  axes.set_xlabel('probability of tectonic')
  axes.set_ylabel('records')
  axes.legend()
  return _save(figure, pathlib.Path(path))
