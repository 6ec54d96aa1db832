"""A run's settings: ``ExperimentConfig``, the typed form every training run takes."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
from jax.sharding import Mesh

from ganet_jax.models import MODELS
from ganet_jax.sharding import data_mesh

LOSSES = ('cross_entropy', 'weighted_cross_entropy', 'focal')
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
      optimizer state and loss stay float32).
    precise_batch_norm: before every evaluation (each epoch with validation data,
      and after the last epoch) replace BatchNorm's moving averages by the
      statistics averaged over the training records (``step.precise_batch_stats``);
      the checkpoint then holds them. Off: the moving averages, as Keras keeps them.
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

  def check(self) -> None:
    """Raises ValueError naming the first bad setting."""
    if self.model not in MODELS:
      raise ValueError(f'model: unknown {self.model!r}; known: {", ".join(sorted(MODELS))}')
    if self.epochs < 0:
      raise ValueError(f'epochs must be >= 0, got {self.epochs}')
    if self.batch_size < 1:
      raise ValueError(f'batch_size must be >= 1, got {self.batch_size}')
    if not self.learning_rate > 0:
      raise ValueError(f'learning_rate must be > 0, got {self.learning_rate}')
    if self.loss not in LOSSES:
      raise ValueError(f'loss: unknown {self.loss!r}; known: {", ".join(LOSSES)}')
    if self.compute_dtype not in COMPUTE_DTYPES:
      raise ValueError(f'compute_dtype: unknown {self.compute_dtype!r}; known: {", ".join(COMPUTE_DTYPES)}')
    if self.num_devices is not None and self.batch_size % self.num_devices:
      raise ValueError(f'batch_size {self.batch_size} does not divide over num_devices {self.num_devices}')

  def mesh(self) -> Mesh | None:
    """The data-parallel mesh of this run; None for a single device."""
    num_devices = self.num_devices
    if num_devices is None:
      num_devices = 1 if jax.default_backend() == 'cpu' else jax.device_count()
      num_devices = math.gcd(num_devices, self.batch_size)
    return data_mesh(num_devices) if num_devices > 1 else None

  def dtype(self) -> str | None:
    """The compute dtype for the step functions; None means plain float32."""
    return None if self.compute_dtype == 'float32' else self.compute_dtype
