"""Self-supervised pretraining of an encoder on unlabeled records, and its transfer to a classifier.

SimCLR (Chen et al. 2020) for waveforms: every record of a batch is augmented twice
(``data.augment``: P-onset shift, gain, polarity, noise), the encoder's pooled
features (``GANet.features``) go through a small projection MLP, and the NT-Xent
loss pulls the two views of a record together against the other records of the
batch. No label is read, so the pool may be a prepared set of unknown event types
(``experiments.prepare --unlabeled``). The classifier later starts from the
encoder's parameters and BatchNorm statistics (``ExperimentConfig.init_from``); its
own head starts fresh.

A pretraining run folder holds, like a training run's: ``config.json`` (the
settings and the data's fingerprint; a resume must match them), ``epochs.jsonl``
and ``checkpoints/``. An interrupted run resumes from its last epoch and sees the
same record order and views: both derive from (seed, epoch, step).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import pathlib
import time
from typing import Any, Callable

from absl import logging
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from ganet_jax.conventions import EPSILON, SAMPLING_RATE
from ganet_jax.json_settings import as_tuples
from ganet_jax.data.augment import Augmentation, augment_batch, augmentation_of
from ganet_jax.data.loader import batches, epoch_order, prefetch
from ganet_jax.data.records import RecordSet
from ganet_jax.errors import ConfigError
from ganet_jax.models import build_model
from ganet_jax.training import run_folder
from ganet_jax.training.checkpoint import RunCheckpoints
from ganet_jax.training.config import (CONFIG_FILE, MAX_SEED, NO_AUGMENTATION, check_finite_values, check_integer,
                                       check_real)
from ganet_jax.training.step import StepMetrics, TrainState, create_train_state, make_optimizer

ENCODER = 'encoder'
# What shapes a window as the encoder sees it: an encoder pretrained on other windows is refused.
WINDOW_SETTINGS = ('sampling_rate', 'window_s', 'bandpass', 'normalization', 'detrend_degree')


def nt_xent_loss(z1: jax.Array, z2: jax.Array, temperature: float = 0.1) -> jax.Array:
  """NT-Xent: mean cross-entropy of finding each view's partner among the other 2n - 1 views.

  Args:
    z1, z2: (n, d) projections of the two views; row i of each comes from record i.
    temperature: the softmax temperature of the cosine similarities.
  """
  n = z1.shape[0]
  z = jnp.concatenate([z1, z2]).astype(jnp.float32)
  # rsqrt of a floored square norm: a norm's gradient at a zero vector is NaN
  z = z * jax.lax.rsqrt(jnp.maximum(jnp.sum(z * z, axis=-1, keepdims=True), EPSILON))
  similarity = z @ z.T / temperature
  similarity = jnp.where(jnp.eye(2 * n, dtype=bool), -jnp.inf, similarity)  # a view is not its own partner
  partner = jnp.concatenate([jnp.arange(n, 2 * n), jnp.arange(n)])
  log_p = jax.nn.log_softmax(similarity, axis=-1)
  return -jnp.mean(log_p[jnp.arange(2 * n), partner])


class ContrastiveModel(nn.Module):
  """An encoder with a ``features(x, train=)`` method (GA-Net) and a projection MLP on its features.

  The encoder's variables sit under ``encoder``: a classifier of the same encoder
  takes them with ``with_encoder``.
  """
  encoder: nn.Module
  projection_dim: int = 64

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
    h = self.encoder.features(x, train=train)
    h = nn.relu(nn.Dense(h.shape[-1], name='projection_hidden')(h))
    return nn.Dense(self.projection_dim, name='projection_out')(h)


@dataclasses.dataclass(frozen=True)
class PretrainConfig:
  """Settings of one pretraining run.

  Attributes:
    model, model_overrides: the encoder, as ``ExperimentConfig``'s (the classifier
      that takes the encoder must have the same).
    epochs, batch_size, learning_rate, weight_decay, seed: AdamW with a cosine
      schedule (one epoch of warm-up); the batch is ``batch_size`` records, each seen twice.
    temperature: NT-Xent's.
    projection_dim: the projection MLP's output width.
    augmentation: ``data.augment.Augmentation`` fields making each view.
  """
  model: str = 'ganet'
  model_overrides: dict[str, Any] = dataclasses.field(default_factory=dict)
  epochs: int = 20
  batch_size: int = 64
  learning_rate: float = 1e-3
  weight_decay: float = 1e-4
  seed: int = 0
  temperature: float = 0.1
  projection_dim: int = 64
  augmentation: dict[str, Any] = dataclasses.field(default_factory=lambda: dict(NO_AUGMENTATION))

  def check(self) -> None:
    """Raises ConfigError (a ValueError) naming the first bad setting as ``--config.pretrain.<field>``."""
    check_integer('pretrain.epochs', self.epochs, minimum=1)
    check_integer('pretrain.batch_size', self.batch_size, minimum=1)
    check_real('pretrain.learning_rate', self.learning_rate, low=0, low_open=True)
    check_real('pretrain.weight_decay', self.weight_decay, low=0)
    check_integer('pretrain.seed', self.seed, minimum=0, maximum=MAX_SEED)
    check_real('pretrain.temperature', self.temperature, low=0, low_open=True)
    check_integer('pretrain.projection_dim', self.projection_dim, minimum=1)
    for name, value in self.model_overrides.items():
      check_finite_values(f'model.{name}', value)
    try:
      self.augmenter(SAMPLING_RATE)  # the checks do not depend on the rate
    except (TypeError, ValueError) as error:
      raise ConfigError('pretrain.augmentation', str(error)) from error

  def augmenter(self, sampling_rate: float) -> Augmentation:
    return augmentation_of(self.augmentation, sampling_rate)

  def build(self) -> ContrastiveModel:
    return ContrastiveModel(build_model(self.model, **as_tuples(self.model_overrides)), self.projection_dim)

  def optimizer(self, records: int):
    steps = max(records // self.batch_size, 1)
    return make_optimizer(self.learning_rate, weight_decay=self.weight_decay, schedule='cosine',
                          warmup_steps=steps, total_steps=self.epochs * steps)


def contrastive_step(state: TrainState, views: jax.Array, *, temperature: float) -> tuple[TrainState, jax.Array]:
  """One step on a (2n, time, channels) batch: rows i and n + i are two views of record i."""
  n = views.shape[0] // 2

  def loss_fn(params):
    z, updates = state.apply_fn({'params': params, 'batch_stats': state.batch_stats}, views, train=True,
                                mutable=['batch_stats'])
    return nt_xent_loss(z[:n], z[n:], temperature), updates['batch_stats']

  (loss, batch_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  return state.apply_gradients(grads=grads, batch_stats=batch_stats), loss


jit_contrastive_step = jax.jit(contrastive_step, static_argnames=('temperature',), donate_argnums=(0,))


def two_views(waveforms: np.ndarray, augmentation: Augmentation, *, seed: int, epoch: int, step: int) -> np.ndarray:
  """The batch's two augmented views stacked (2n, time, channels), drawn from (seed, epoch, step)."""
  first = augment_batch(waveforms, augmentation, np.random.default_rng([seed, epoch, step, 0]))
  second = augment_batch(waveforms, augmentation, np.random.default_rng([seed, epoch, step, 1]))
  return np.concatenate([first, second])


def pretrain(config: PretrainConfig, records: RecordSet, workdir: str | pathlib.Path, *,
             log: Callable[[str], None] = logging.info) -> list[dict]:
  """Pretrain (or resume) ``config``'s encoder on ``records`` (labels unused); returns the epoch history.

  Raises:
    ConfigError: (a ValueError) a bad setting of ``config``, named.
    ValueError: too few records for a batch, or a workdir holding another run or other
      files, or being written by another run.
    FloatingPointError: the loss became NaN or infinite.
  """
  config.check()
  if len(records) < config.batch_size:
    raise ValueError(f'{len(records)} records are fewer than batch_size {config.batch_size}')
  with run_folder.held(workdir) as workdir:
    run_folder.write_or_check_settings(workdir, {
        'kind': 'pretrain', 'config': dataclasses.asdict(config),
        'data': {'input_shape': list(records.waveforms.shape[1:]), 'records': len(records),
                 'fingerprint': run_folder.fingerprint(records, columns=('record_ids',)),
                 'windows': run_folder.windows_hash(records), 'preprocessing': records.preprocessing}},
        config_defaults=dataclasses.asdict(type(config)()), added_data=('windows',))
    model = config.build()
    make_state = functools.partial(create_train_state, model, jax.random.key(config.seed), records.waveforms.shape,
                                   tx=config.optimizer(len(records)))
    with RunCheckpoints(workdir / run_folder.CHECKPOINTS_FOLDER, writer=True) as checkpoints:
      state, first_epoch, history = run_folder.resume(checkpoints, jax.eval_shape(make_state), make_state, workdir, log)
      augmentation = config.augmenter(records.sampling_rate)
      steps = len(records) // config.batch_size
      for epoch in range(first_epoch, config.epochs + 1):
        start = time.perf_counter()
        order = epoch_order(len(records), seed=config.seed, epoch=epoch)[:steps * config.batch_size]
        views = (two_views(batch.waveforms, augmentation, seed=config.seed, epoch=epoch, step=k)
                 for k, batch in enumerate(batches(records, order, config.batch_size)))
        metrics, losses = StepMetrics((epoch - 1) * steps + 1, epoch), []
        for batch in prefetch(views):
          state, loss = jit_contrastive_step(state, jnp.asarray(batch), temperature=config.temperature)
          losses += [row['loss'] for row in metrics.add({'loss': loss})]
        losses += [row['loss'] for row in metrics.finish()]
        loss = sum(losses) / steps
        seconds = time.perf_counter() - start
        history.append({'epoch': epoch, 'loss': loss, 'records_per_second': steps * config.batch_size / seconds,
                        'seconds': seconds})
        run_folder.write_history(workdir, history)
        checkpoints.save(epoch, state, {'epoch': epoch})
        log(f'pretraining epoch {epoch}/{config.epochs}  NT-Xent loss {loss:.4f} '
            f'(chance {np.log(2 * config.batch_size - 1):.2f})  {history[-1]["records_per_second"]:.1f} records/s')
  return history


def load_encoder(workdir: str | pathlib.Path) -> tuple[dict[str, Any], dict[str, Any]]:
  """(the pretraining run's settings, its encoder's {'params', 'batch_stats'}) from the last checkpoint.

  Raises:
    FileNotFoundError: naming the folder when it holds no pretraining run or no checkpoint.
  """
  workdir = pathlib.Path(workdir)
  path = workdir / CONFIG_FILE
  if not path.is_file():
    raise FileNotFoundError(f'{workdir}: no pretraining run ({CONFIG_FILE} missing)')
  saved = json.loads(path.read_text())
  if saved.get('kind') != 'pretrain':
    raise FileNotFoundError(f'{workdir}: a run folder, but not of a pretraining run (experiments.pretrain)')
  config = PretrainConfig(**saved['config'])
  target = jax.eval_shape(functools.partial(create_train_state, config.build(), jax.random.key(0),
                                            saved['data']['input_shape'], tx=config.optimizer(saved['data']['records'])))
  with RunCheckpoints(workdir / 'checkpoints') as checkpoints:
    restored = checkpoints.restore(target)
  if restored is None:
    raise FileNotFoundError(f'{workdir / "checkpoints"}: no checkpoint')
  state = restored[0]
  return saved, {'params': state.params[ENCODER], 'batch_stats': state.batch_stats.get(ENCODER, {})}


def check_encoder_data(workdir: str | pathlib.Path, records: RecordSet) -> str | None:
  """Checks that the pretraining run in ``workdir`` saw windows prepared as ``records``' were.

  Compares the run's recorded window shape and preprocessing (``config.json``) with
  ``records.waveforms``' shape and ``records.preprocessing``: rate, window, band-pass,
  normalisation and detrending.

  Args:
    workdir: a pretraining run folder (nothing is checked when it has no config.json:
      loading the encoder names that).
    records: the training records.

  Returns:
    A warning when one side's preprocessing is unknown (e.g. synthetic records), so
    nothing beyond the window shape could be compared; None otherwise.

  Raises:
    ConfigError: naming ``--config.init_from`` and each setting that differs.
  """
  path = pathlib.Path(workdir) / CONFIG_FILE
  if not path.is_file():
    return None
  saved = json.loads(path.read_text()).get('data', {})
  differences = []
  shape = list(records.waveforms.shape[1:])
  if saved.get('input_shape') and list(saved['input_shape']) != shape:
    differences.append(f'windows of shape {saved["input_shape"]}, the training set\'s {shape}')
  theirs, ours = (saved.get('preprocessing') or {}).get('preprocess'), (records.preprocessing or {}).get('preprocess')
  if theirs and ours:
    differences += [f'{name} {theirs[name]}, the training set\'s {ours[name]}' for name in WINDOW_SETTINGS
                    if name in theirs and name in ours and theirs[name] != ours[name]]
  if differences:
    raise ConfigError('init_from', f'{workdir}: the encoder was pretrained on other windows ({"; ".join(differences)}); '
                      f'pretrain on records prepared as the training set')
  if bool(theirs) != bool(ours):
    unknown = 'the pretraining run\'s' if ours else 'the training set\'s'
    return (f'WARNING: --config.init_from={workdir}: {unknown} preprocessing is unknown; only the window shape '
            f'could be compared (a rate or band-pass that differs goes unnoticed)')
  return None


def with_encoder(variables: dict[str, Any], encoder: dict[str, Any], *, source: str = 'the encoder') -> dict[str, Any]:
  """``variables`` (a classifier's) with every entry the pretrained ``encoder`` has replaced by its.

  The classifier's own head (absent from the encoder) keeps its fresh values.

  Raises:
    ValueError: naming the first entry whose shape differs or that the classifier lacks
      (another architecture or width than the encoder's).
  """
  out = {}
  for collection, values in variables.items():
    flat = traverse_util.flatten_dict(values)
    for path, value in traverse_util.flatten_dict(encoder.get(collection, {})).items():
      name = f'{collection}/{"/".join(path)}'
      if path not in flat:
        raise ValueError(f'{source}: {name} is not in the model; pretrain the same model and width')
      if flat[path].shape != value.shape:
        raise ValueError(f'{source}: {name} has shape {value.shape}, the model {flat[path].shape}; '
                         f'pretrain the same model and width')
      flat[path] = jnp.asarray(value, flat[path].dtype)
    out[collection] = traverse_util.unflatten_dict(flat)
  return out
