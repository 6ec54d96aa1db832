"""TensorBoard scalars of a training run: per epoch in ``<workdir>/tensorboard/``, per step in ``.../steps/``.

  tensorboard --logdir=runs/         # every run folder below runs/ side by side

Per epoch (the step axis is the epoch): ``train/loss``, ``train/accuracy``,
``train/records_per_second``, ``train/learning_rate`` and, with validation data,
``validation/accuracy`` and ``validation/<selection metric>``; after the test
evaluation ``test/<metric>`` at the evaluated epoch. Per training step (the step axis is
the step, in a folder of its own, so each axis holds one kind of step):
``train_step/loss`` and the L2 norms of the gradients, parameters and updates,
``train_step/l2_grads``, ``train_step/l2_params``, ``train_step/l2_updates``
(``step.train_step``). The writer is tensorboardX's (protobuf and numpy only, no
TensorFlow or PyTorch).
"""

from __future__ import annotations

import math
import pathlib
from typing import Any, Mapping, Sequence

TENSORBOARD_DIR = 'tensorboard'
STEPS_DIR = 'steps'  # inside TENSORBOARD_DIR
STEP_SCALARS = ('loss', 'l2_grads', 'l2_params', 'l2_updates')
TEST_SCALARS = ('accuracy', 'balanced_accuracy', 'sensitivity', 'specificity', 'auc')


def epoch_scalars(summary: Mapping[str, Any], learning_rate: float, selection_metric: str) -> dict[str, float]:
  """The tagged scalars of one epoch's summary (an ``epochs.jsonl`` line).

  Args:
    summary: the epoch's loss, accuracy, records_per_second and optional validation report.
    learning_rate: the step size at the epoch's last step.
    selection_metric: the validation figure that picks the best epoch.

  Returns:
    {tag: value}; undefined validation figures (one class present) are left out.
  """
  scalars = {'train/loss': summary['loss'], 'train/accuracy': summary['accuracy'],
             'train/records_per_second': summary['records_per_second'], 'train/learning_rate': learning_rate}
  validation = summary.get('validation')
  if validation is not None:
    for metric in dict.fromkeys(('accuracy', selection_metric)):
      scalars[f'validation/{metric}'] = validation.get(metric)
  return _defined(scalars)


def evaluation_scalars(result: Mapping[str, Any]) -> dict[str, float]:
  """``test/<metric>`` of a test evaluation's record-level figures (undefined ones left out)."""
  return _defined({f'test/{metric}': result.get(metric) for metric in TEST_SCALARS})


def _defined(scalars: Mapping[str, Any]) -> dict[str, float]:
  return {tag: float(value) for tag, value in scalars.items()
          if isinstance(value, (int, float)) and not math.isnan(value)}


class ScalarWriter:
  """The run folder's TensorBoard event writer (a context manager)."""

  def __init__(self, workdir: str | pathlib.Path, *, first_epoch: int = 1, first_step: int = 1):
    """Open events files in ``<workdir>/tensorboard/`` and its ``steps/``.

    Args:
      workdir: the run folder.
      first_epoch, first_step: the first epoch and step this writer writes; TensorBoard
        drops what earlier writers of the folder wrote for them and later ones (also at
        1: a process killed before its first checkpoint wrote some), so a run that writes
        from these on shows each epoch and step once.
    """
    from tensorboardX import SummaryWriter  # imported here: ~0.15 s that only training needs
    self.directory = pathlib.Path(workdir) / TENSORBOARD_DIR
    self._writer = SummaryWriter(str(self.directory), purge_step=first_epoch)
    self._steps = SummaryWriter(str(self.directory / STEPS_DIR), purge_step=first_step)

  def write(self, step: int, scalars: Mapping[str, float]) -> None:
    """Write ``scalars`` at ``step`` and flush, so TensorBoard shows the epoch at once."""
    for tag, value in scalars.items():
      self._writer.add_scalar(tag, value, step)
    self._writer.flush()

  def write_steps(self, rows: Sequence[Mapping[str, float]]) -> None:
    """``train_step/<name>`` of each row (``step.StepMetrics``' rows: a ``step`` and its metrics), then flush."""
    for row in rows:
      for name in STEP_SCALARS:
        self._steps.add_scalar(f'train_step/{name}', row[name], row['step'])
    self._steps.flush()

  def close(self) -> None:
    self._writer.close()
    self._steps.close()

  def __enter__(self) -> ScalarWriter:
    return self

  def __exit__(self, *exc_info) -> None:
    self.close()
