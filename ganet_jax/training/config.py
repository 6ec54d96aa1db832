"""A run's settings: the ``ml_collections`` config every binary reads, and ``ExperimentConfig``, its typed form.

The binaries read a ``ConfigDict`` from a config file (``experiments/configs/paper.py``,
the paper's protocol) with command-line overrides (``--config.learning_rate=1e-3``,
``--config.model.num_bottlenecks=3``); ``experiment_config`` turns it into the
``ExperimentConfig`` that ``experiment.run`` takes, checked, ``model_config``
builds its ``model`` entry and ``apply_overrides`` changes fields by dotted path. The config's fields:

  dataset            'synthetic' or a prepared data-set folder
  synthetic          num_events, samples, seed of the built-in synthetic set
  split              validation_from (or None), test_from: chronological by event origin
  model              name (in ``ganet_jax.models.MODELS``) and that model's constructor fields
  epochs, batch_size, learning_rate, loss, focal_gamma, seed, threshold,
  num_devices, compute_dtype, precise_batch_norm    as in ``ExperimentConfig``
  seeds              the study binaries' seeds (one run per seed and configuration)
  workdir            the run or study folder (None: the binary's default)
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import ml_collections
import optax
from jax.sharding import Mesh

from ganet_jax.conventions import SAMPLING_RATE
from ganet_jax.data.augment import Augmentation
from ganet_jax.errors import ConfigError
from ganet_jax.models import MODELS, build_model, model_fields
from ganet_jax.sharding import data_mesh
from ganet_jax.training.step import make_optimizer

LOSSES = ('cross_entropy', 'weighted_cross_entropy', 'focal')
LR_SCHEDULES = ('constant', 'cosine')
# Augmentation's fields as a config spells them, every transform off (an empty SNR range: no noise).
NO_AUGMENTATION = {'max_shift_s': 0.0, 'scale_range': (1.0, 1.0), 'random_polarity': False, 'snr_db_range': (),
                   'channel_dropout': 0.0}
SELECTION_METRICS = ('accuracy', 'balanced_accuracy', 'auc', 'event_auc', 'event_balanced_accuracy')
COMPUTE_DTYPES = ('float32', 'bfloat16')
CONFIG_FILE = 'config.json'  # in a run folder: the ExperimentConfig and the data's fingerprint


@dataclasses.dataclass
class ExperimentConfig:
  """Settings of one run.

  Attributes:
    model: a name in ``ganet_jax.models.MODELS``.
    model_overrides: constructor fields, e.g. ``{'num_bottlenecks': 3}``.
    epochs: passes over the training records (15: the paper's).
    batch_size: records per step; an epoch's last incomplete batch is skipped
      (a different one each epoch, the order being reshuffled).
    learning_rate: Adam's step size (1e-5: the paper's).
    loss: one of ``LOSSES``; 'weighted_cross_entropy' weighs classes by
      ``n / (2 n_c)`` of the training labels.
    focal_gamma: the focal loss exponent.
    seed: initial parameters, record order and dropout derive from it.
    threshold: records with probability of tectonic >= threshold are called tectonic.
    num_devices: devices to spread each batch over (data parallelism through
      ``jax.sharding``; batch_size must divide by it). None: every accelerator
      visible, or one device on CPU, where "devices" share the same cores and
      splitting only adds overhead.
    compute_dtype: 'float32', or 'bfloat16' for mixed precision (parameters,
      optimizer state and loss stay float32): the model's ``dtype`` when it has
      one (``model_kwargs``), else a cast of the parameter tree in the steps.
    precise_batch_norm: before every evaluation (each epoch with validation data,
      and after the last epoch) replace BatchNorm's moving averages by the
      statistics averaged over the training records (``step.precise_batch_stats``);
      the checkpoint then holds them. Off: the moving averages, as Keras keeps them.

  The small-data recipe's fields (``experiments/configs/small_data.py``); their
  defaults are the paper's protocol:
    weight_decay: > 0 turns Adam into AdamW with this decoupled decay.
    lr_schedule: 'constant', or 'cosine' (warm-up, then cosine decay to 0 at the last step).
    warmup_epochs: epochs of linear warm-up from 0 (either schedule).
    label_smoothing: in [0, 1): cross-entropy targets (1 - e) one-hot + e / 2.
    balanced_sampling: draw each epoch's records so both classes are drawn equally
      often (with replacement), instead of a shuffle of the training records.
    augmentation: ``data.augment.Augmentation`` fields (max_shift_s, scale_range,
      random_polarity, snr_db_range, channel_dropout), applied to every training batch.
    selection_metric: the validation figure that picks ``checkpoints/best``: one of
      ``SELECTION_METRICS`` (event_* use the event mean rule of ``metrics.event_metrics``).
    evaluate_best: evaluate the test split with the best validation epoch's
      checkpoint instead of the last epoch's (needs validation records).
    early_stopping_patience: stop after this many epochs without a better
      validation ``selection_metric`` (0: train every epoch).
    init_from: a pretraining run folder (``experiments.pretrain``) whose encoder's
      parameters and BatchNorm statistics initialise the model ('' : from scratch).
    freeze_encoder: with ``init_from``, train only the classifier head (a linear
      probe of the pretrained features; BatchNorm statistics are still re-estimated).
  """
  model: str = 'ganet'
  model_overrides: dict[str, Any] = dataclasses.field(default_factory=dict)
  epochs: int = 15
  batch_size: int = 32
  learning_rate: float = 1e-5
  loss: str = 'cross_entropy'
  focal_gamma: float = 2.0
  seed: int = 0
  threshold: float = 0.5
  num_devices: int | None = None
  compute_dtype: str = 'float32'
  precise_batch_norm: bool = True
  weight_decay: float = 0.0
  lr_schedule: str = 'constant'
  warmup_epochs: float = 0.0
  label_smoothing: float = 0.0
  balanced_sampling: bool = False
  augmentation: dict[str, Any] = dataclasses.field(default_factory=lambda: dict(NO_AUGMENTATION))
  selection_metric: str = 'accuracy'
  evaluate_best: bool = False
  early_stopping_patience: int = 0
  init_from: str = ''
  freeze_encoder: bool = False

  def check(self) -> None:
    """Raises ConfigError (a ValueError) naming the first bad setting as ``--config.<field>``."""
    if self.model not in MODELS:
      raise ConfigError('model.name', f'unknown {self.model!r}; known: {", ".join(sorted(MODELS))}')
    if self.epochs < 0:
      raise ConfigError('epochs', f'must be >= 0, got {self.epochs}')
    if self.batch_size < 1:
      raise ConfigError('batch_size', f'must be >= 1, got {self.batch_size}')
    if not self.learning_rate > 0:
      raise ConfigError('learning_rate', f'must be > 0, got {self.learning_rate}')
    if self.loss not in LOSSES:
      raise ConfigError('loss', f'unknown {self.loss!r}; known: {", ".join(LOSSES)}')
    if self.focal_gamma < 0:
      raise ConfigError('focal_gamma', f'must be >= 0, got {self.focal_gamma}')
    if not 0 <= self.threshold <= 1:
      raise ConfigError('threshold', f'must be in [0, 1], got {self.threshold}')
    if not self.weight_decay >= 0:
      raise ConfigError('weight_decay', f'must be >= 0, got {self.weight_decay}')
    if self.lr_schedule not in LR_SCHEDULES:
      raise ConfigError('lr_schedule', f'unknown {self.lr_schedule!r}; known: {", ".join(LR_SCHEDULES)}')
    if not 0 <= self.warmup_epochs <= max(self.epochs, 0):
      raise ConfigError('warmup_epochs', f'must be in [0, epochs={self.epochs}], got {self.warmup_epochs}')
    if not 0 <= self.label_smoothing < 1:
      raise ConfigError('label_smoothing', f'must be in [0, 1), got {self.label_smoothing}')
    if self.label_smoothing and self.loss == 'focal':
      raise ConfigError('label_smoothing', 'applies to the cross-entropy losses, not focal')
    if self.selection_metric not in SELECTION_METRICS:
      raise ConfigError('selection_metric', f'unknown {self.selection_metric!r}; known: {", ".join(SELECTION_METRICS)}')
    if self.early_stopping_patience < 0:
      raise ConfigError('early_stopping_patience', f'must be >= 0, got {self.early_stopping_patience}')
    try:
      self.augmenter(SAMPLING_RATE)  # the checks do not depend on the rate
    except (TypeError, ValueError) as error:
      raise ConfigError('augmentation', str(error)) from error
    if self.freeze_encoder and not self.init_from:
      raise ConfigError('freeze_encoder', 'needs --config.init_from (a pretrained encoder to freeze)')
    if self.compute_dtype not in COMPUTE_DTYPES:
      raise ConfigError('compute_dtype', f'unknown {self.compute_dtype!r}; known: {", ".join(COMPUTE_DTYPES)}')
    if self.num_devices is not None and (self.num_devices < 1 or self.batch_size % self.num_devices):
      raise ConfigError('num_devices', f'batch_size {self.batch_size} does not divide over num_devices '
                        f'{self.num_devices}')

  def mesh(self) -> Mesh | None:
    """The data-parallel mesh of this run; None for a single device."""
    num_devices = self.num_devices
    if num_devices is None:
      num_devices = 1 if jax.default_backend() == 'cpu' else jax.device_count()
      num_devices = math.gcd(num_devices, self.batch_size)
    return data_mesh(num_devices) if num_devices > 1 else None

  def augmenter(self, sampling_rate: float) -> Augmentation:
    """The training batches' ``Augmentation`` for windows at ``sampling_rate`` Hz (shifts are in seconds)."""
    return augmentation_of(self.augmentation, sampling_rate)

  def optimizer(self, train_records: int) -> optax.GradientTransformation:
    """The run's optimizer for a training set of ``train_records`` (the schedule counts its steps)."""
    steps_per_epoch = max(train_records // self.batch_size, 1)
    return make_optimizer(self.learning_rate, weight_decay=self.weight_decay, schedule=self.lr_schedule,
                          warmup_steps=int(round(self.warmup_epochs * steps_per_epoch)),
                          total_steps=self.epochs * steps_per_epoch,
                          train_only=('classifier',) if self.freeze_encoder else ())

  def model_kwargs(self) -> dict[str, Any]:
    """The model's constructor fields: ``model_overrides``, plus ``dtype`` for mixed precision.

    A model with a ``dtype`` field (GA-Net and its layers) runs in ``compute_dtype``
    itself, the flax way: float32 parameters (``param_dtype``), each layer casting
    them and its input as it computes. JSON's lists read back as tuples (a module's
    fields must hash: it is a static argument of the jitted steps).
    """
    kwargs = as_tuples(self.model_overrides)
    if self.compute_dtype != 'float32' and _takes_dtype(self.model):
      kwargs['dtype'] = jnp.dtype(self.compute_dtype)
    return kwargs

  def dtype(self) -> str | None:
    """The dtype the step functions cast the parameter tree to: only for a model without a ``dtype`` field.

    None for float32 and for models that compute in ``compute_dtype`` themselves (``model_kwargs``).
    """
    if self.compute_dtype == 'float32' or _takes_dtype(self.model):
      return None
    return self.compute_dtype


def as_tuples(fields: Mapping[str, Any]) -> dict[str, Any]:
  """``fields`` with lists as tuples: JSON reads tuples back as lists, and a module's fields must hash."""
  return {k: tuple(v) if isinstance(v, list) else v for k, v in dict(fields).items()}


def augmentation_of(fields: Mapping[str, Any], sampling_rate: float) -> Augmentation:
  """The ``Augmentation`` of a config's augmentation fields (an empty SNR range is none) at ``sampling_rate`` Hz."""
  fields = as_tuples(fields)
  if not fields.get('snr_db_range', True):
    fields['snr_db_range'] = None
  return Augmentation(**fields, sampling_rate=sampling_rate)


@functools.lru_cache(maxsize=None)
def _takes_dtype(name: str) -> bool:
  return name in MODELS and 'dtype' in {f.name for f in dataclasses.fields(build_model(name))}


def model_config(name: str = 'ganet') -> ml_collections.ConfigDict:
  """A config's ``model`` entry: ``name`` and the constructor fields of that model with their defaults.

  Raises:
    ValueError: naming the unknown model and the known ones.
  """
  return ml_collections.ConfigDict({'name': name, **model_fields(name)})


def apply_overrides(config: ml_collections.ConfigDict, overrides: Mapping[str, Any]) -> ml_collections.ConfigDict:
  """A copy of ``config`` with fields replaced by dotted path (``{'augmentation.max_shift_s': 0.0}``).

  Args:
    config: a config (``experiments/configs/``); left unchanged.
    overrides: dotted field paths and their new values.

  Returns:
    The changed copy.

  Raises:
    ConfigError: naming a path the config does not have.
  """
  config = ml_collections.ConfigDict(config.to_dict())
  for path, value in overrides.items():
    *parents, leaf = path.split('.')
    node = config
    for parent in parents:
      node = node.get(parent)
      if node is None:
        raise ConfigError(path, 'no such config field')
    if leaf not in node:
      raise ConfigError(path, 'no such config field')
    node[leaf] = value
  return config


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
  # A field the config file lacks keeps the library's default.
  plain = lambda value: value.to_dict() if isinstance(value, ml_collections.ConfigDict) else value
  settings = {field.name: plain(config[field.name]) for field in dataclasses.fields(ExperimentConfig)
              if field.name not in ('model', 'model_overrides') and field.name in config}
  settings.update(fields)
  experiment = ExperimentConfig(model=model, model_overrides={**changed, **(model_overrides or {})}, **settings)
  experiment.check()
  return experiment
