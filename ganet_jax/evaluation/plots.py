"""PNG figures of an evaluation: confusion matrix, ROC curve, confidence histogram (Fig. 4), attention.

Figures are ``matplotlib.figure.Figure`` objects saved straight to files, matplotlib
imported inside each function: importing this module neither loads pyplot nor
changes the caller's backend.
"""

from __future__ import annotations

import pathlib
from typing import Mapping

import numpy as np

from ganet_jax.conventions import CLASS_NAMES, COMPONENT_ORDER, EPSILON, NON_TECTONIC, SAMPLING_RATE, TECTONIC
from ganet_jax.evaluation.metrics import confusion, roc_auc, roc_curve


def _figure(**kwargs):
  from matplotlib.figure import Figure  # here, not at import: see the module docstring
  return Figure(**kwargs)


def _save(figure, path) -> pathlib.Path:
  path = pathlib.Path(path)
  figure.tight_layout()
  figure.savefig(path, dpi=120, bbox_inches='tight')
  return path


def plot_confusion(labels, p_tectonic, path) -> pathlib.Path:
  """Confusion matrix (rows true class, columns predicted), tectonic first."""
  counts = confusion(labels, p_tectonic)
  matrix = np.array([[counts['tp'], counts['fn']], [counts['fp'], counts['tn']]])
  figure = _figure(figsize=(4, 3.5))
  axes = figure.subplots()
  axes.imshow(matrix, cmap='Blues')
  for (row, column), value in np.ndenumerate(matrix):
    axes.text(column, row, str(value), ha='center', va='center',
              color='white' if value > matrix.max() / 2 else 'black')
  axes.set_xticks([0, 1], CLASS_NAMES)
  axes.set_yticks([0, 1], CLASS_NAMES)
  axes.set_xlabel('predicted')
  axes.set_ylabel('true')
  return _save(figure, path)


def plot_roc(labels, p_tectonic, path) -> pathlib.Path:
  """ROC curve with tectonic positive, AUC in the legend."""
  fpr, tpr, _ = roc_curve(labels, p_tectonic)
  figure = _figure(figsize=(4, 4))
  axes = figure.subplots()
  axes.plot(fpr, tpr, label=f'AUC = {roc_auc(labels, p_tectonic):.3f}')
  axes.plot([0, 1], [0, 1], ':', color='grey')
  axes.set_xlabel('false positive rate (1 - specificity)')
  axes.set_ylabel('true positive rate (sensitivity)')
  axes.legend(loc='lower right')
  return _save(figure, path)


def plot_confidence(labels, p_tectonic, path, *, bins: int = 10) -> pathlib.Path:
  """Histogram of the probability of tectonic per true class (the paper's Fig. 4)."""
  labels = np.asarray(labels)
  p = np.asarray(p_tectonic)
  figure = _figure(figsize=(5, 3.5))
  axes = figure.subplots()
  for cls in (TECTONIC, NON_TECTONIC):
    axes.hist(p[labels == cls], bins=bins, range=(0, 1), alpha=0.6, label=CLASS_NAMES[cls])
  for edge in (0.2, 0.8):
    axes.axvline(edge, ls=':', color='grey')
  axes.set_xlabel('probability of tectonic')
  axes.set_ylabel('records')
  axes.legend()
  return _save(figure, path)


def plot_attention(waveform, attention_by_stage: Mapping[str, np.ndarray], path, *, title: str = '',
                   sampling_rate: float = SAMPLING_RATE) -> pathlib.Path:
  """A record's waveform above the CBAM spatial attention of each stage, on one time axis.

  Args:
    waveform: (samples, channels) record (channels in Z, N, E order; all-zero
      channels, e.g. zero-filled N and E, are left out) or (samples,) trace.
    attention_by_stage: {stage: (samples,) weights in [0, 1]}, e.g.
      ``Classifier.attention`` or ``evaluation.attention.record_attention``.
    path: the PNG to write.
    title: the figure's title (e.g. record, true class, probability of tectonic).
    sampling_rate: samples per second, for the time axis.

  Returns:
    ``path``.

  Raises:
    ValueError: a stage's weights are not one per sample of the waveform.
  """
  waveform = np.asarray(waveform, np.float32)
  if waveform.ndim == 1:
    waveform = waveform[:, None]
  samples = len(waveform)
  for stage, weights in attention_by_stage.items():
    if np.shape(weights) != (samples,):
      raise ValueError(f'stage {stage!r}: {np.shape(weights)} weights for a {samples}-sample waveform; '
                       'align them to the record first (evaluation.attention.hold_on_record_axis)')
  time_s = np.arange(samples) / sampling_rate
  shown = [c for c in range(waveform.shape[1]) if np.any(waveform[:, c])] or [0]
  stages = list(attention_by_stage)
  figure = _figure(figsize=(9, 2.2 + 0.7 * len(stages)))
  grid = figure.add_gridspec(1 + len(stages), 1, height_ratios=[3] + [1] * len(stages), hspace=0.3)
  waves = figure.add_subplot(grid[0])
  scale = max(float(np.max(np.abs(waveform[:, shown]))), EPSILON)
  for row, channel in enumerate(shown):
    name = COMPONENT_ORDER[channel] if waveform.shape[1] == len(COMPONENT_ORDER) else str(channel)
    waves.plot(time_s, waveform[:, channel] / scale - 2.2 * row, lw=0.5, color='black')
    waves.text(time_s[0], -2.2 * row + 0.6, name, fontsize=8, va='bottom')
  waves.set_yticks([])
  waves.set_xlim(time_s[0], time_s[-1])
  waves.set_title(title, fontsize=10)
  for row, stage in enumerate(stages, 1):
    axes = figure.add_subplot(grid[row], sharex=waves)
    axes.fill_between(time_s, attention_by_stage[stage], step='post', color='tab:orange', alpha=0.7, lw=0)
    axes.set_ylim(0, 1)
    axes.set_yticks([0, 1])
    axes.tick_params(axis='y', labelsize=7)
    axes.set_ylabel(stage, rotation=0, ha='right', va='center', fontsize=8)
  for axes in figure.axes[:-1]:
    axes.tick_params(labelbottom=False)
  figure.axes[-1].set_xlabel('time from the P onset (s)')
  path = pathlib.Path(path)
  figure.savefig(path, dpi=120, bbox_inches='tight')
  return path
