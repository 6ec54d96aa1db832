"""One configured training + evaluation run: the function every experiment binary calls.

``run(config, train, test, workdir)`` trains from scratch, or resumes from the
run folder's last checkpoint, evaluates on ``test`` and writes into ``workdir``:

  config.json          the settings and the data's fingerprints: record ids, labels and a hash
                       of the windows (a resume must match them); the library version and git
                       commit that made the folder (``run_folder.write_or_check_settings``)
  epochs.jsonl         one JSON line per epoch: loss, accuracy, records/s (+ validation)
  checkpoints/         orbax checkpoints (``ganet_jax.training.checkpoint``)
  tensorboard/         TensorBoard scalars per epoch, and per step the loss and the gradient,
                       parameter and update norms (``ganet_jax.training.summaries``)
  metrics.json         test metrics: record level, Fig. 4 confidence shares, events
  predictions.csv      record_id, event_id, event_type, label, p_tectonic
  confusion_matrix.png, roc_curve.png, confidence_histogram.png

(the test evaluation's files are ``ganet_jax.evaluation.reports``'s).

Reproducibility: the initial parameters come from ``seed``, the record order of
epoch ``e`` from ``(seed, e)`` and the dropout keys from ``(seed, step)``, never
from running state, so an interrupted run restarted with the same settings ends
with the same metrics as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import pathlib
import resource
import time
from typing import Any, Callable

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from ganet_jax.conventions import SAMPLING_RATE
from ganet_jax.json_settings import as_tuples
from ganet_jax.data.augment import augment_batches, augmentation_of
from ganet_jax.data.loader import balanced_epoch_order, batches, epoch_order, prefetch
from ganet_jax.data.records import RecordSet, station_keys
from ganet_jax.errors import ConfigError
from ganet_jax.evaluation.predict import predict_probabilities
from ganet_jax.evaluation.reports import evaluation_report, validation_report, write_evaluation
from ganet_jax.models import MODELS, build_model, head_parameters, model_fields, model_kwargs
from ganet_jax.progress import Progress
from ganet_jax.sharding import place_rows, process_rows, replicate, run_mesh
from ganet_jax.training import contrastive, losses, run_folder
from ganet_jax.training.checkpoint import BEST, RunCheckpoints
from ganet_jax.training.config import MEANING_CHANGES, ExperimentConfig
from ganet_jax.training.host_memory import release_if_grown
from ganet_jax.training.step import (StepMetrics, create_train_state, jit_train_step, model_variables,
                                     precise_batch_stats, run_learning_rate, run_optimizer)
from ganet_jax.training.summaries import ScalarWriter, epoch_scalars, evaluation_scalars

def run(config: ExperimentConfig, train: RecordSet, test: RecordSet, workdir: str | pathlib.Path, *,
        validation: RecordSet | None = None, log: Callable[[str], None] = logging.info,
        progress: bool | None = None) -> dict[str, Any]:
  """Train (or resume), evaluate on ``test``, write the run folder, return the test metrics.

  Args:
    config: the settings.
    train: training records; at least ``config.batch_size`` of them.
    test: evaluation records.
    workdir: the run folder (created; refused while another run writes it, and when
      it holds a run with other settings or data, or files a run does not write).
    validation: optional records evaluated after every epoch; the best epoch by
      validation ``config.selection_metric`` is checkpointed under ``checkpoints/best``
      (and evaluated on ``test`` with ``config.evaluate_best``; early stopping with
      ``config.early_stopping_patience``).
    log: receives one line per epoch (and a note on resuming, best-epoch selection, a
      collapsed run); absl's ``logging.info`` by default.
    progress: log each epoch's records/s and ETA every few seconds (``ganet_jax.progress``):
      True, False, or None for when stderr is a terminal.

  Returns:
    The dict written to ``metrics.json``.

  Raises:
    ValueError: bad settings (or settings acting on validation records without them), too few training records, training or validation records
      of one class, an encoder (``config.init_from``) pretrained on other windows, or a
      workdir of another run, of other files or being written.
    FloatingPointError: the training loss became NaN or infinite, naming the step
      (``step.StepMetrics``: the run stops at most two windows of steps later).
  """
  check_config(config)
  check_validation_settings(config, validation)
  check_records(config, train)
  if len(train) < config.batch_size:
    raise ValueError(f'{len(train)} training records are fewer than batch_size {config.batch_size}')
  check_two_classes(train, 'training')
  if validation is not None:
    check_two_classes(validation, 'validation')
  if config.init_from:
    warning = contrastive.check_encoder_data(config.init_from, train)
    if warning:
      log(warning)
  # each process of a multi-process run holds its own share of the folder
  part = f'process{jax.process_index()}' if jax.process_count() > 1 else ''
  with run_folder.held(workdir, part=part) as workdir, contextlib.ExitStack() as closing:
    _write_or_check_settings(workdir, config, train, test, validation)
    model = build_model(config.model, **model_kwargs(config.model, config.model_overrides,
                                                         compute_dtype=config.compute_dtype))
    init_rng, dropout_rng = jax.random.split(jax.random.key(config.seed))
    make_state = functools.partial(create_train_state, model, init_rng, train.waveforms.shape,
                                   tx=run_optimizer(config, len(train)))
    target = jax.eval_shape(make_state)  # the state's structure, for restoring into
    learning_rate = run_learning_rate(config, len(train))
    with RunCheckpoints(workdir / run_folder.CHECKPOINTS_FOLDER, writer=True,
                        selection_metric=config.selection_metric) as checkpoints:
      state, first_epoch, history = run_folder.resume(
          checkpoints, target, lambda: _initial_state(make_state, config, log), workdir, log)
      # open until the test figures are written; closed on any exception too. Every earlier epoch is
      # dropped and the resumed ones rewritten from epochs.jsonl: a killed process may have saved an
      # epoch's checkpoint but not its scalars, and a rerun writes the test points again.
      scalars = closing.enter_context(ScalarWriter(workdir, first_epoch=1,
                                                   first_step=(first_epoch - 1) * (len(train) // config.batch_size) + 1))
      for summary in history:
        scalars.write(summary['epoch'], epoch_scalars(summary, learning_rate(summary['step'] - 1),
                                                      config.selection_metric))
      loss_fn = _loss_fn(config, train.labels)
      mesh = run_mesh(config.num_devices, config.batch_size)
      if mesh is not None:
        state = replicate(state, mesh)
      predict = functools.partial(predict_probabilities, model, batch_size=config.batch_size, mesh=mesh)

      trimmed = None
      for epoch in range(first_epoch, config.epochs + 1):
        if _early_stop(history, config):
          break
        state, summary, steps = _train_epoch(state, train, config, epoch, dropout_rng, loss_fn, mesh, progress)
        scalars.write_steps(steps)
        if config.precise_batch_norm and (validation is not None or epoch == config.epochs):
          state = precise_batch_stats(state, _full_batches(train, config.batch_size))
        if validation is not None:
          summary['validation'] = validation_report(validation, predict(model_variables(state), validation),
                                                    threshold=config.threshold)
        history.append(summary)
        trimmed = release_if_grown(trimmed)  # what the epoch's compiles freed goes back to the OS (host_memory)
        run_folder.write_history(workdir, history)
        checkpoints.save(epoch, state, {'epoch': epoch},
                         None if validation is None else _score(summary['validation'], config.selection_metric))
        scalars.write(epoch, epoch_scalars(summary, learning_rate(summary['step'] - 1), config.selection_metric))
        log(_progress_line(summary, config.epochs, config.selection_metric))
      last_epoch = history[-1]['epoch'] if history else 0
      evaluated_epoch = last_epoch
      if config.evaluate_best and validation is not None and history:
        best = checkpoints.restore(target, BEST)
        state, evaluated_epoch = best[0], best[1]['epoch']
        log(f'evaluating the best epoch by validation {config.selection_metric}: {evaluated_epoch}')

    start = time.perf_counter()
    p_test = predict(model_variables(state), test)
    result = evaluation_report(test, p_test, threshold=config.threshold)
    result['test_records_per_second'] = len(test) / (time.perf_counter() - start)
    result['epochs_completed'] = last_epoch
    result['evaluated_epoch'] = evaluated_epoch
    result['train_records'] = len(train)
    # the process's peak resident memory so far (Linux reports KiB): what this run needed, compile included
    result['peak_rss_mib'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if result['collapsed_to_one_class']:
      called = 'tectonic' if result['confusion']['tp'] + result['confusion']['fp'] else 'non-tectonic'
      one_class = ' (the test records hold one class: no figure tells skill from a collapse)' \
          if min(test.class_counts()) == 0 else ''
      logging.warning(f'every test record was called {called}: this run collapsed to one class (metrics.json: '
                      f'"collapsed_to_one_class": true){one_class}; its accuracy is the class share, not skill')
    write_evaluation(workdir, test, p_test, result)
    scalars.write(evaluated_epoch, evaluation_scalars(result))
  return result


def check_config(config: ExperimentConfig) -> None:
  """Raises ConfigError (a ValueError) naming the first bad setting of ``config`` as ``--config.<field>``.

  ``ExperimentConfig.check``'s checks of the values, then the model's name and the augmentation fields.
  """
  config.check()
  if config.model not in MODELS:
    raise ConfigError('model.name', f'unknown {config.model!r}; known: {", ".join(sorted(MODELS))}')
  try:
    augmentation_of(config.augmentation, SAMPLING_RATE)  # the checks do not depend on the rate
  except (TypeError, ValueError) as error:
    raise ConfigError('augmentation', str(error)) from error
  if config.freeze_encoder:
    try:
      head_parameters(config.model)
    except ValueError as error:
      raise ConfigError('freeze_encoder', str(error)) from None


def check_validation_settings(config: ExperimentConfig, validation: RecordSet | None) -> None:
  """Refuses settings that act on validation records when a run has none: they would do nothing.

  Raises:
    ConfigError: naming the first such setting.
  """
  if validation is not None:
    return
  defaults = ExperimentConfig()
  for field in ('selection_metric', 'evaluate_best', 'early_stopping_patience'):
    if getattr(config, field) != getattr(defaults, field):
      raise ConfigError(field, f'{getattr(config, field)!r} acts on validation records, and this run has none; '
                        f'give validation records or leave it at {getattr(defaults, field)!r}')


def check_records(config: ExperimentConfig, train: RecordSet) -> None:
  """Raises ConfigError naming the setting that ``train``'s records cannot serve.

  A model that reads frequencies (``GANetFusion``) must know the windows' rate, and
  station-balanced sampling needs every record's station.
  """
  model_rate = {**model_fields(config.model), **config.model_overrides}.get('sampling_rate')
  if model_rate is not None and float(model_rate) != train.sampling_rate:
    raise ConfigError('model.sampling_rate', f'{model_rate:g} Hz, but the training windows are at '
                      f'{train.sampling_rate:g} Hz: set it to theirs')
  if config.station_balanced_sampling:
    try:
      station_keys(train)
    except KeyError as error:
      raise ConfigError('station_balanced_sampling', f'needs the station of every training record: {error.args[0]}'
                        ) from None


def check_two_classes(records: RecordSet, split: str) -> None:
  """Refuses records with fewer than two classes: a classifier cannot learn or be selected on them.

  Raises:
    ValueError: one line naming ``split`` and its class counts.
  """
  tectonic, non_tectonic = records.class_counts()
  if not (tectonic and non_tectonic):
    unlabeled = len(records) - tectonic - non_tectonic
    raise ValueError(f'the {split} records hold one class or none ({tectonic} tectonic, {non_tectonic} non-tectonic'
                     f'{f", {unlabeled} unlabeled" if unlabeled else ""}); give records of both classes (check the '
                     f'split boundaries, the labels and the data set)')


def model_config(name: str = 'ganet') -> ml_collections.ConfigDict:
  """A config's ``model`` entry: ``name`` and the constructor fields of that model with their defaults.

  Raises:
    ValueError: naming the unknown model and the known ones.
  """
  return ml_collections.ConfigDict({'name': name, **model_fields(name)})


def experiment_config(config: ml_collections.ConfigDict, *, model: str | None = None,
                      model_overrides: dict[str, Any] | None = None, **fields) -> ExperimentConfig:
  """The checked ``ExperimentConfig`` of a config (the one way from a config file to a run's settings).

  Args:
    config: a config with the fields of ``experiments/configs/paper.py``.
    model: train this model instead of ``config.model.name`` (a study's row). The
      fields ``config.model`` changes from its model's defaults (e.g. small mode's
      narrow GA-Net) apply to it when both are GA-Net variants or the same model;
      otherwise it keeps its own defaults.
    model_overrides: constructor fields on top (a study's row, e.g. ``{'num_bottlenecks': 3}``).
    **fields: other ``ExperimentConfig`` fields replacing the config's (e.g. ``loss='focal'``).

  Returns:
    The run's settings; ``model_overrides`` holds only fields that differ from the
    model's defaults, so a run folder written before configs existed still resumes.

  Raises:
    ConfigError: naming the bad field as ``--config.<field>``.
  """
  name = config.model.name
  if name not in MODELS:
    raise ConfigError('model.name', f'unknown {name!r}; known: {", ".join(sorted(MODELS))}')
  defaults = model_fields(name)
  given = {k: v for k, v in config.model.items() if k != 'name'}
  foreign = sorted(set(given) - set(defaults))
  if foreign:
    raise ConfigError('model', f'{", ".join(foreign)} are not fields of {name!r}; pick a model with its own '
                      f'fields through the config file argument, e.g. --config=experiments/configs/paper.py:{name}')
  changed = as_tuples({k: v for k, v in given.items() if v != defaults[k]})
  model = model or name
  if model != name and not (model.startswith('ganet') and name.startswith('ganet')):
    changed = {}
  elif model != name:  # GA-Net variants: the fields they share (GA-Net fused with physics has more)
    changed = {k: v for k, v in changed.items() if k in model_fields(model)}
  # A field the config file lacks keeps the library's default.
  plain = lambda value: value.to_dict() if isinstance(value, ml_collections.ConfigDict) else value
  settings = {field.name: plain(config[field.name]) for field in dataclasses.fields(ExperimentConfig)
              if field.name not in ('model', 'model_overrides') and field.name in config}
  settings.update(fields)
  experiment = ExperimentConfig(model=model, model_overrides={**changed, **(model_overrides or {})}, **settings)
  check_config(experiment)
  return experiment


def _initial_state(make_state, config: ExperimentConfig, log):
  """A fresh state, its encoder taken from ``config.init_from``'s pretraining run when given."""
  state = make_state()
  if not config.init_from:
    return state
  try:
    _, encoder = contrastive.load_encoder(config.init_from)
  except FileNotFoundError as error:
    raise ConfigError('init_from', f'{error}; run experiments.pretrain first') from None
  variables = contrastive.with_encoder(model_variables(state), encoder, source=f'--config.init_from={config.init_from}')
  log(f'encoder initialised from the pretraining run {config.init_from}')
  return state.replace(params=variables['params'], batch_stats=variables['batch_stats'])


def _score(report: dict, metric: str) -> float:
  """A validation report's selection score; an undefined figure (one class present) ranks last."""
  value = report[metric]
  return -1.0 if value is None or np.isnan(value) else float(value)


def _early_stop(history: list[dict], config: ExperimentConfig) -> bool:
  """True once ``early_stopping_patience`` epochs have passed without a better validation score.

  A function of the written history, so a resumed run stops where an uninterrupted one would.
  """
  scored = [(_score(h['validation'], config.selection_metric), h['epoch']) for h in history if 'validation' in h]
  if not config.early_stopping_patience or not scored:
    return False
  best_epoch = max(scored)[1]  # ties go to the later epoch, as checkpoints/best keeps it
  return scored[-1][1] - best_epoch >= config.early_stopping_patience


def _loss_fn(config: ExperimentConfig, train_labels: np.ndarray):
  # only the options the loss reads: an unused one (focal_gamma of a cross-entropy run) must not make another compile
  if config.loss == 'focal':
    return losses.loss_function('focal', focal_gamma=config.focal_gamma)
  weights = tuple(losses.balanced_class_weights(train_labels)) if config.loss == 'weighted_cross_entropy' else None
  return losses.loss_function(config.loss, label_smoothing=config.label_smoothing, class_weights=weights)


def _full_batches(train: RecordSet, batch_size: int):
  """The training records' waveforms in order, in full batches (the remainder left out)."""
  steps = len(train) // batch_size
  return (batch.waveforms for batch in prefetch(batches(train, np.arange(steps * batch_size), batch_size)))


def _train_epoch(state, train: RecordSet, config: ExperimentConfig, epoch: int, dropout_rng, loss_fn, mesh,
                 progress: bool | None):
  steps = len(train) // config.batch_size
  # Full batches only, so one shape compiles; the shuffle leaves out a different remainder each epoch.
  if config.balanced_sampling or config.station_balanced_sampling:
    stations = station_keys(train) if config.station_balanced_sampling else None
    order = balanced_epoch_order(train.labels, steps * config.batch_size, seed=config.seed, epoch=epoch,
                                 stations=stations, balance_classes=config.balanced_sampling)
  else:
    order = epoch_order(len(train), seed=config.seed, epoch=epoch)[:steps * config.batch_size]
  rows = process_rows(mesh, config.batch_size)  # this process's rows of a batch: all but in a multi-process run
  stream = batches(train, order, config.batch_size, rows=rows)
  augmentation = augmentation_of(config.augmentation, train.sampling_rate)
  if augmentation.active:
    stream = augment_batches(stream, augmentation, seed=config.seed, epoch=epoch, part=rows.start)
  place = jnp.asarray if mesh is None else functools.partial(place_rows, mesh=mesh, batch_size=config.batch_size)
  progress = Progress(steps * config.batch_size, 'records', enabled=progress, label=f'epoch {epoch}/{config.epochs}')
  start = time.perf_counter()
  # each step's loss is checked, a window of steps late (StepMetrics: no wait per step)
  metrics, rows = StepMetrics((epoch - 1) * steps + 1, epoch), []
  for batch in prefetch(stream):  # the loader thread gathers and augments the next batches
    batch = {'waveforms': place(batch.waveforms), 'labels': place(batch.labels)}
    state, step_metrics = jit_train_step(state, batch, dropout_rng, loss_fn=loss_fn)
    rows += metrics.add(step_metrics)
    if progress.due(config.batch_size):
      step_metrics['loss'].block_until_ready()  # the rate and ETA count finished steps, not dispatched ones
    progress.update(config.batch_size)
  rows += metrics.finish()
  seconds = time.perf_counter() - start
  records = steps * config.batch_size
  return state, {'epoch': epoch, 'step': rows[-1]['step'], 'loss': sum(row['loss'] for row in rows) / steps,
                 'accuracy': sum(row['correct'] for row in rows) / records, 'records_per_second': records / seconds,
                 'seconds': seconds}, rows


def _progress_line(summary: dict, epochs: int, selection_metric: str = 'accuracy') -> str:
  line = (f'epoch {summary["epoch"]}/{epochs}  loss {summary["loss"]:.4f}  accuracy {summary["accuracy"]:.3f}  '
          f'{summary["records_per_second"]:.1f} records/s  ({summary["seconds"]:.0f} s)')
  if 'validation' in summary:
    line += f'  validation accuracy {summary["validation"]["accuracy"]:.3f}'
    if selection_metric != 'accuracy':
      line += f'  validation {selection_metric} {_score(summary["validation"], selection_metric):.3f}'
  return line


def _write_or_check_settings(workdir: pathlib.Path, config: ExperimentConfig, train: RecordSet, test: RecordSet,
                             validation: RecordSet | None) -> None:
  """config.json: the settings and what identifies the data; a resume must match them."""
  data = {'input_shape': list(train.waveforms.shape[1:]), 'train': run_folder.fingerprint(train),
          'test': run_folder.fingerprint(test), 'validation': run_folder.fingerprint(validation),
          'train_records': len(train), 'test_records': len(test),
          # the windows' content: a set re-prepared in place (new picks, another band) is another set
          'windows': {'train': run_folder.windows_hash(train), 'test': run_folder.windows_hash(test),
                      'validation': run_folder.windows_hash(validation)}}
  if train.preprocessing is not None:  # what made the windows, so a classifier prepares new records alike
    data['preprocessing'] = train.preprocessing
  run_folder.write_or_check_settings(workdir, {'config': dataclasses.asdict(config), 'data': data},
                                     config_defaults=dataclasses.asdict(ExperimentConfig()), added_data=('windows',),
                                     meaning_changes=MEANING_CHANGES)
