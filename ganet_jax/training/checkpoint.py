"""Orbax checkpoints of a training run: every epoch (for resuming) and the best by validation.

Layout under the run's folder:

  checkpoints/latest/<epoch>/   the last epochs' TrainState + run metadata (resume from here)
  checkpoints/best/<epoch>/     the epoch with the highest validation score (with validation data), its
                                score stored under the name of the figure that chose it,
                                ``validation_<selection metric>`` (e.g. ``validation_event_auc``)

A checkpoint's step is the number of epochs completed. Saving copies the state to
host memory and writes it in orbax's background thread while the next epoch trains
(a write took ~0.8 s of a 7-s epoch of the README's main job); a run killed at any
moment leaves its previous complete checkpoint intact (orbax writes to a temporary
folder and renames it when done; the run that writes the folder next removes the
temporary folders a killed run left), and restoring or closing first waits for the
write in flight.
"""

from __future__ import annotations

import functools
import json
import pathlib
from typing import Any

import jax
import orbax.checkpoint as ocp

from ganet_jax.models import build_model, model_kwargs
from ganet_jax.training.config import CONFIG_FILE, ExperimentConfig
from ganet_jax.training.step import TrainState, create_train_state, model_variables, run_optimizer

LATEST = 'latest'
BEST = 'best'


def best_metric_name(selection_metric: str) -> str:
  """The name a best checkpoint's score is stored under: ``validation_<selection_metric>``."""
  return f'validation_{selection_metric}'


def _best_score(metrics: dict[str, float]) -> float:
  # A best checkpoint stores one score; reading it by position rather than by name also
  # ranks folders written when it was always named 'validation_accuracy'.
  (score,) = metrics.values()
  return score


class RunCheckpoints:
  """The latest-epoch and best-epoch checkpoint managers of one run folder."""

  def __init__(self, directory: str | pathlib.Path, *, keep_latest: int = 2, writer: bool = False,
               selection_metric: str = 'accuracy'):
    """Open (creating if needed) the checkpoint folders under ``directory``.

    Args:
      directory: the run folder's ``checkpoints`` folder.
      keep_latest: how many of the last epochs' checkpoints are kept.
      writer: this is the run that writes the folder (holding it, ``run_folder.held``):
        the temporary folders of unfinished saves (a killed run's) are removed.
        A reader leaves them: they may be a live run's save in flight.
      selection_metric: the validation figure that chooses the best epoch (the stored score's name).
    """
    self.directory = directory = pathlib.Path(directory).absolute()
    self.best_metric = best_metric_name(selection_metric)
    options = lambda **kw: ocp.CheckpointManagerOptions(enable_async_checkpointing=True,
                                                        cleanup_tmp_directories=writer, **kw)
    self.latest = ocp.CheckpointManager(directory / LATEST, options=options(max_to_keep=keep_latest))
    self.best = ocp.CheckpointManager(
        directory / BEST, options=options(max_to_keep=1, best_fn=_best_score, best_mode='max'))

  def save(self, epoch: int, state: TrainState, meta: dict[str, Any], validation_score: float | None = None) -> None:
    """Save ``state`` and JSON ``meta`` as epoch ``epoch``; also as best if it is (written in the background).

    Args:
      epoch: the epochs completed (the checkpoint's step).
      state: the training state.
      meta: JSON-ready facts restored with it (e.g. ``{'epoch': 3}``).
      validation_score: the epoch's ``selection_metric`` on the validation data (higher is
        better); None: no validation, only the latest checkpoint is written.
    """
    # orbax copies the arrays to host memory before it returns (the next step donates them)
    args = ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta))
    self.latest.save(epoch, args=args)
    if validation_score is not None:
      self.best.save(epoch, args=args, metrics={self.best_metric: validation_score})

  def restore(self, target: TrainState, which: str = LATEST) -> tuple[TrainState, dict[str, Any]] | None:
    """The newest checkpoint of ``which`` ('latest' or 'best') restored into ``target``'s structure.

    Returns:
      (state, meta), or None when there is no checkpoint.

    Raises:
      ValueError: one line naming the checkpoint, when it does not restore into
        ``target`` (saved by another model or width) or is damaged.
    """
    manager = {LATEST: self.latest, BEST: self.best}[which]
    manager.wait_until_finished()
    epoch = manager.best_step() if which == BEST else manager.latest_step()
    if epoch is None:
      return None
    try:
      restored = manager.restore(epoch, args=ocp.args.Composite(
          state=ocp.args.StandardRestore(target), meta=ocp.args.JsonRestore()))
    except Exception as error:  # orbax reports damage and structure mismatches in several exception types
      detail = (str(error).strip().splitlines() or [''])[0][:200]
      raise ValueError(f'{self.directory / which / str(epoch)}: cannot restore the checkpoint into this model: '
                       f'saved by another model or width, or damaged ({type(error).__name__}: {detail})') from None
    return restored['state'], restored['meta']

  def close(self) -> None:
    """Wait for the writes in flight, then release orbax's threads."""
    self.latest.close()
    self.best.close()

  def __enter__(self) -> RunCheckpoints:
    return self

  def __exit__(self, *exc_info) -> None:
    # also on an exception (an interrupted run): the epoch being written is kept
    self.close()


def load_trained(workdir: str | pathlib.Path, which: str = LATEST):
  """The model and variables of a run folder's checkpoint, e.g. in a fresh process.

  Args:
    workdir: a run folder written by ``experiment.run``.
    which: 'latest' (the last epoch) or 'best' (best by the run's validation ``selection_metric``).

  Returns:
    (model, {'params': ..., 'batch_stats': ...}, epoch).

  Raises:
    FileNotFoundError: if the folder has no such checkpoint.
  """
  workdir = pathlib.Path(workdir)
  saved = json.loads((workdir / CONFIG_FILE).read_text())
  config = ExperimentConfig(**saved['config'])
  model = build_model(config.model, **model_kwargs(config.model, config.model_overrides,
                                                   compute_dtype=config.compute_dtype))
  # a batch of one record: a model whose layers depend on the record's length is built for it
  target = jax.eval_shape(functools.partial(create_train_state, model, jax.random.key(0),
                                            (1, *saved['data']['input_shape']),
                                            tx=run_optimizer(config, saved['data']['train_records'])))
  # closed even when a damaged checkpoint raises: orbax's threads must not run into interpreter exit
  with RunCheckpoints(workdir / 'checkpoints') as checkpoints:
    restored = checkpoints.restore(target, which)
  if restored is None:
    raise FileNotFoundError(f'{workdir / "checkpoints" / which}: no checkpoint')
  return model, model_variables(restored[0]), restored[1]['epoch']
