"""A training or pretraining run from a config file's ``ConfigDict``: its settings, run folder and data, then the run.

  result, workdir = train(config)      # experiments.train: experiment.run on config.dataset's split
  history, workdir = pretrain(config)  # experiments.pretrain: contrastive.pretrain on config.pretrain.dataset

Every bad setting is refused before any work, as a ``ConfigError`` naming its
``--config.<field>``.
"""

from __future__ import annotations

import datetime
import pathlib
import tempfile
from typing import Any, Callable

from absl import logging
import ml_collections

from ganet_jax.data.dataset import load_records, load_split
from ganet_jax.errors import ConfigError
from ganet_jax.sharding import run_mesh
from ganet_jax.training.config import apply_overrides
from ganet_jax.training.contrastive import PretrainConfig
from ganet_jax.training import contrastive, experiment


def make_workdir(workdir: str | None) -> pathlib.Path:
  """The run folder's path (default ``runs/train-<UTC time>``), checked writable but not created.

  Nothing is created until the settings and the data are accepted (``experiment.run``
  creates the folder), so a refused run leaves no empty folder behind.

  Raises:
    ConfigError: naming ``--config.workdir`` when it could not be created or written.
  """
  if workdir is None:
    workdir = f'runs/train-{datetime.datetime.now(datetime.timezone.utc):%Y%m%d-%H%M%S}'
  path = pathlib.Path(workdir)
  existing = next(p for p in (path, *path.absolute().parents) if p.exists())
  if existing == path and not path.is_dir():
    return path  # a file: experiment.run refuses it, naming it
  if not existing.is_dir():
    raise ConfigError('workdir', f'{workdir}: not writable ({existing} is a file)')
  try:  # a probe, not os.access: root passes that for /proc or a read-only mount
    with tempfile.TemporaryFile(dir=existing):
      pass
  except OSError as error:
    raise ConfigError('workdir', f'{workdir}: not writable ({existing}: {error.strerror or error})') from error
  return path


def train(config: ml_collections.ConfigDict, *, progress: bool | None = None,
          log: Callable[[str], None] = logging.info) -> tuple[dict[str, Any], pathlib.Path]:
  """Train and evaluate ``config``'s network on ``config.dataset``'s split (``experiment.run``).

  Args:
    config: a config file's settings (``ganet_jax.training.config``'s fields).
    progress: records/s and ETA lines (None: when stderr is a terminal).
    log: receives the line saying what trains on what, and where it is written.

  Returns:
    (the test metrics, the run folder).

  Raises:
    ConfigError: a bad setting, naming it; ValueError: too few records for a batch, a
      run folder of another run; FloatingPointError: the loss became non-finite.
  """
  settings = experiment.experiment_config(config)
  try:
    run_mesh(settings.num_devices, settings.batch_size)
  except ValueError as error:
    raise ConfigError('num_devices', str(error)) from error
  workdir = make_workdir(config.workdir)
  split = load_split(config, log=log)
  log(f'{settings.model}: {len(split.train)} training records {split.train.class_counts()} (tectonic, '
      f'non-tectonic), {len(split.test)} test records {split.test.class_counts()}; writing to {workdir}')
  result = experiment.run(settings, split.train, split.test, workdir, validation=split.validation, progress=progress)
  return result, workdir


def pretrain_config(config: ml_collections.ConfigDict) -> PretrainConfig:
  """The ``PretrainConfig`` of ``config.pretrain`` with the encoder of ``config.model``.

  Raises:
    ConfigError: naming ``--config.pretrain`` when the config has none or a field is bad.
  """
  if 'pretrain' not in config:
    raise ConfigError('pretrain', 'this config file has no pretrain section (see experiments/configs/small_data.py)')
  settings = experiment.experiment_config(config)
  fields = {k: v for k, v in config.pretrain.to_dict().items() if k not in ('dataset', 'workdir')}
  try:
    result = PretrainConfig(model=settings.model, model_overrides=settings.model_overrides, **fields)
  except TypeError as error:  # a field PretrainConfig does not have
    raise ConfigError('pretrain', str(error)) from error
  result.check()
  return result


def pretrain(config: ml_collections.ConfigDict, *, log: Callable[[str], None] = logging.info
             ) -> tuple[list[dict], pathlib.Path]:
  """Pretrain ``config.model``'s encoder on ``config.pretrain.dataset`` (``contrastive.pretrain``; labels unused).

  Returns:
    (the epoch history, the run folder ``config.pretrain.workdir``).

  Raises:
    ConfigError: a bad setting, naming ``--config.pretrain.<field>``; ValueError, FloatingPointError:
      as ``contrastive.pretrain``.
  """
  settings = pretrain_config(config)
  try:
    records = load_records(apply_overrides(config, {'dataset': config.pretrain.dataset}))
  except ConfigError as error:
    raise ConfigError('pretrain.dataset', str(error).split(': ', 1)[-1]) from None
  workdir = pathlib.Path(config.pretrain.workdir)
  log(f'pretraining {settings.model} {settings.model_overrides or ""} on {len(records)} records of '
      f'{config.pretrain.dataset} (labels unused); writing to {workdir}')
  return contrastive.pretrain(settings, records, workdir), workdir
