"""A run's settings: the ``ml_collections`` config every binary reads, and ``ExperimentConfig``, its typed record.

The binaries read a ``ConfigDict`` from a config file (``experiments/configs/paper.py``,
the paper's protocol) with command-line overrides (``--config.learning_rate=1e-3``,
``--config.model.num_bottlenecks=3``); ``apply_overrides`` changes its fields by dotted
path, and ``experiment.experiment_config`` turns it into the checked ``ExperimentConfig``
that ``experiment.run`` takes (``experiment.model_config`` builds its ``model`` entry).
The record holds settings only: what they make (the model's constructor fields, the
optimizer, the mesh, the augmentation) is made where it is used. The config's fields:

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
import math
import numbers
from typing import Any, Mapping

import ml_collections

from ganet_jax.conventions import PAPER_LEARNING_RATE, THRESHOLD
from ganet_jax.errors import ConfigError

LOSSES = ('cross_entropy', 'weighted_cross_entropy', 'focal')
LR_SCHEDULES = ('constant', 'cosine')
# Augmentation's fields as a config spells them, every transform off (an empty SNR range: no noise).
# The response ranges are Augmentation's defaults: they act only with response_probability > 0.
NO_AUGMENTATION = {'max_shift_s': 0.0, 'scale_range': (1.0, 1.0), 'random_polarity': False, 'snr_db_range': (),
                   'channel_dropout': 0.0, 'response_probability': 0.0, 'response_low_hz': (0.5, 3.0),
                   'response_high_hz': (8.0, 25.0), 'response_orders': (1, 4), 'response_tilt_range': (-1.0, 1.0)}
SELECTION_METRICS = ('accuracy', 'balanced_accuracy', 'auc', 'event_auc', 'event_balanced_accuracy')
COMPUTE_DTYPES = ('float32', 'bfloat16')
MAX_SEED = 2**32 - 1  # NumPy's and JAX's seeds both take it
CONFIG_FILE = 'config.json'  # in a run folder: the ExperimentConfig and the data's fingerprint
# (library version, field, what changed): fields whose effect changed. A run folder made on
# the other side of a change, with the field off its default, is refused (run_folder).
MEANING_CHANGES = (
    ('0.2.0', 'label_smoothing', 'the cross-entropy losses apply it; earlier versions ignored it'),
)


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
    station_balanced_sampling: draw each epoch's records (with replacement) so that within
      each class every station (manifest columns network and station) is drawn equally
      often, so a few stations with many records do not dominate; the classes keep their
      shares, or are drawn equally often with ``balanced_sampling``.
    augmentation: ``data.augment.Augmentation`` fields (max_shift_s, scale_range,
      random_polarity, snr_db_range, channel_dropout, response_probability and the
      random responses' ranges), applied to every training batch.
    selection_metric: the validation figure that picks ``checkpoints/best``: one of
      ``SELECTION_METRICS`` (event_* use the event mean rule of ``metrics.event_metrics``).
    evaluate_best: evaluate the test split with the best validation epoch's
      checkpoint instead of the last epoch's (needs validation records).
    early_stopping_patience: stop after this many epochs without a better
      validation ``selection_metric`` (0: train every epoch).
    init_from: a pretraining run folder (``experiments.pretrain``) whose encoder's
      parameters and BatchNorm statistics initialise the model ('' : from scratch).
    freeze_encoder: with ``init_from``, train only the model's head, every parameter
      after the encoder's pooled features (``models.head_parameters``: GA-Net's
      classifier; the fusion head's projection, band scale and offset too), a probe of
      the pretrained features; BatchNorm statistics are still re-estimated.
    grad_clip_norm: > 0: scale each step's gradients down to this global L2 norm when
      above it, before Adam (0: off). Each step's gradient norm is in TensorBoard
      (``train_step/l2_grads``), to choose it from.
  """
  model: str = 'ganet'
  model_overrides: dict[str, Any] = dataclasses.field(default_factory=dict)
  epochs: int = 15
  batch_size: int = 32
  learning_rate: float = PAPER_LEARNING_RATE
  loss: str = 'cross_entropy'
  focal_gamma: float = 2.0
  seed: int = 0
  threshold: float = THRESHOLD
  num_devices: int | None = None
  compute_dtype: str = 'float32'
  precise_batch_norm: bool = True
  weight_decay: float = 0.0
  lr_schedule: str = 'constant'
  warmup_epochs: float = 0.0
  label_smoothing: float = 0.0
  balanced_sampling: bool = False
  station_balanced_sampling: bool = False
  augmentation: dict[str, Any] = dataclasses.field(default_factory=lambda: dict(NO_AUGMENTATION))
  selection_metric: str = 'accuracy'
  evaluate_best: bool = False
  early_stopping_patience: int = 0
  init_from: str = ''
  freeze_encoder: bool = False
  grad_clip_norm: float = 0.0

  def check(self) -> None:
    """Raises ConfigError (a ValueError) naming the first bad setting as ``--config.<field>``.

    Every number must be finite, of its type and in its range; every name one of its
    choices. The values on their own; ``experiment.check_config`` adds the model's name
    and the augmentation fields, which need the models and the augmentation to check.
    """
    check_integer('epochs', self.epochs, minimum=1)  # 0 would report an untrained network's metrics
    check_integer('batch_size', self.batch_size, minimum=1)
    check_real('learning_rate', self.learning_rate, low=0, low_open=True)
    if self.loss not in LOSSES:
      raise ConfigError('loss', f'unknown {self.loss!r}; known: {", ".join(LOSSES)}')
    check_real('focal_gamma', self.focal_gamma, low=0)
    check_integer('seed', self.seed, minimum=0, maximum=MAX_SEED)
    check_real('threshold', self.threshold, low=0, high=1)
    check_real('weight_decay', self.weight_decay, low=0)
    if self.lr_schedule not in LR_SCHEDULES:
      raise ConfigError('lr_schedule', f'unknown {self.lr_schedule!r}; known: {", ".join(LR_SCHEDULES)}')
    check_real('warmup_epochs', self.warmup_epochs, low=0, high=self.epochs, high_name='epochs')
    check_real('label_smoothing', self.label_smoothing, low=0, high=1, high_open=True)
    check_real('grad_clip_norm', self.grad_clip_norm, low=0)
    for name in ('precise_batch_norm', 'balanced_sampling', 'evaluate_best', 'freeze_encoder'):
      if not isinstance(getattr(self, name), bool):
        raise ConfigError(name, f'must be True or False, got {getattr(self, name)!r}')
    for name, value in self.model_overrides.items():
      check_finite_values(f'model.{name}', value)
    if self.label_smoothing and self.loss == 'focal':
      raise ConfigError('label_smoothing', 'applies to the cross-entropy losses, not focal')
    if self.selection_metric not in SELECTION_METRICS:
      raise ConfigError('selection_metric', f'unknown {self.selection_metric!r}; known: {", ".join(SELECTION_METRICS)}')
    check_integer('early_stopping_patience', self.early_stopping_patience, minimum=0)
    if self.freeze_encoder and not self.init_from:
      raise ConfigError('freeze_encoder', 'needs --config.init_from (a pretrained encoder to freeze)')
    if self.compute_dtype not in COMPUTE_DTYPES:
      raise ConfigError('compute_dtype', f'unknown {self.compute_dtype!r}; known: {", ".join(COMPUTE_DTYPES)}')
    if self.num_devices is not None:
      check_integer('num_devices', self.num_devices, minimum=1)
    if self.num_devices is not None and self.batch_size % self.num_devices:
      raise ConfigError('num_devices', f'batch_size {self.batch_size} does not divide over num_devices '
                        f'{self.num_devices}')


def check_integer(field: str, value: Any, *, minimum: int | None = None, maximum: int | None = None) -> None:
  """Raises ConfigError naming ``field`` unless ``value`` is an integer (not a bool) in [minimum, maximum]."""
  if isinstance(value, bool) or not isinstance(value, numbers.Integral):
    raise ConfigError(field, f'must be an integer, got {value!r}')
  if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
    bounds = f'>= {minimum}' if maximum is None else f'in [{minimum}, {maximum}]'
    raise ConfigError(field, f'must be {bounds}, got {value}')


def check_real(field: str, value: Any, *, low: float | None = None, high: float | None = None,
               low_open: bool = False, high_open: bool = False, high_name: str | None = None) -> None:
  """Raises ConfigError naming ``field`` unless ``value`` is a finite number in its range.

  Args:
    field: the setting's path, as the message names it.
    value: its value.
    low, high: the bounds (None: none); ``low_open``/``high_open`` exclude them.
    high_name: the setting the upper bound comes from, for the message.
  """
  if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
    raise ConfigError(field, f'must be a finite number, got {value!r}')
  below = low is not None and (value <= low if low_open else value < low)
  above = high is not None and (value >= high if high_open else value > high)
  if below or above:
    if high is None:
      bounds = f'{">" if low_open else ">="} {low:g}'
    else:
      upper = f'{high_name}={high:g}' if high_name else f'{high:g}'
      bounds = f'in {"(" if low_open else "["}{low:g}, {upper}{")" if high_open else "]"}'
    raise ConfigError(field, f'must be {bounds}, got {value}')


def check_finite_values(field: str, value: Any) -> None:
  """Raises ConfigError naming ``field`` when a number in ``value`` (nested lists, tuples and dicts) is NaN or infinite."""
  if isinstance(value, Mapping):
    for key, item in value.items():
      check_finite_values(f'{field}.{key}', item)
  elif isinstance(value, (list, tuple)):
    for item in value:
      check_finite_values(field, item)
  elif isinstance(value, numbers.Real) and not isinstance(value, bool) and not math.isfinite(value):
    raise ConfigError(field, f'must be finite, got {value}')


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
