"""Training state and the jitted train step (optax Adam, BatchNorm statistics, dropout).

The step is a pure function of (state, batch, rng); ``jit_train_step`` compiles it
once per batch shape and donates the old state, so parameters and Adam moments are
updated in place. Dropout keys are ``fold_in(rng, state.step)``: a resumed run draws
the same keys as an uninterrupted one.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Mapping, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import traverse_util
from flax.training import train_state

from ganet_jax.conventions import PAPER_LEARNING_RATE
from ganet_jax.models import head_parameters
from ganet_jax.nn.precision import cast_floating
from ganet_jax.training.config import ExperimentConfig

LossFn = Callable[[jax.Array, jax.Array], jax.Array]


class TrainState(train_state.TrainState):
  """Flax's TrainState plus the model's BatchNorm running statistics."""
  batch_stats: Any = None


def create_train_state(model: nn.Module, rng: jax.Array, input_shape: Sequence[int], *,
                       learning_rate: float = PAPER_LEARNING_RATE, tx: optax.GradientTransformation | None = None) -> TrainState:
  """Initialise ``model`` for inputs of ``input_shape`` (batch, time, channels) and its optimizer.

  Args:
    model: a Linen module taking ``(x, *, train)``.
    rng: parameter initialisation key.
    input_shape: the shape of one batch; only time and channels matter.
    learning_rate: Adam's step size (the paper's by default), when ``tx`` is None.
    tx: the optimizer (``make_optimizer``); None: Adam at ``learning_rate``.

  Returns:
    A ``TrainState`` at step 0.
  """
  variables = _init(model, rng, tuple(input_shape[1:]))
  state = TrainState.create(apply_fn=_shared(model).apply, params=variables['params'],
                            batch_stats=variables.get('batch_stats', {}), tx=tx or make_optimizer(learning_rate))
  # An int32 array, as the step returns it (a Python 0 would compile the step a second
  # time), and committed to the device as restored checkpoints are (an uncommitted
  # fresh state would make a resumed run compile everything again).
  return jax.device_put(state.replace(step=jnp.zeros((), jnp.int32)), jax.devices()[0])


@functools.lru_cache(maxsize=None)
def _shared(model: nn.Module) -> nn.Module:
  # Bound methods compare their module by identity, and apply_fn is a static part of
  # the state: one instance per distinct model lets equal models share compiles.
  return model


@functools.lru_cache(maxsize=None)
def make_optimizer(learning_rate: float, *, weight_decay: float = 0.0, schedule: str = 'constant',
                   warmup_steps: int = 0, total_steps: int = 0, train_only: tuple[str, ...] = (),
                   grad_clip_norm: float = 0.0) -> optax.GradientTransformation:
  """Adam (the paper's), or AdamW with ``weight_decay`` > 0, at a constant or warm-up + cosine rate.

  One object per setting: the optimizer is a static part of the state, so a new
  object per run would make every run recompile the train step; sharing it lets
  runs of one model and setting reuse the compile.

  Args:
    learning_rate: the peak step size.
    weight_decay: decoupled weight decay (AdamW, Loshchilov & Hutter 2019); 0 is plain Adam.
    schedule: 'constant', or 'cosine': linear warm-up from 0 over ``warmup_steps``, then
      cosine decay to 0 at ``total_steps``.
    warmup_steps, total_steps: the schedule's lengths in steps.
    train_only: top-level parameter entries that train (a model's ``head_parameters``: a
      frozen encoder under a trained head); the others get zero updates. Empty: everything trains.
    grad_clip_norm: > 0: the gradients (of what trains) are scaled down to this global L2
      norm when above it, before Adam (``optax.clip_by_global_norm``); 0: no clipping.
  """
  rate = _rate(learning_rate, schedule, warmup_steps, total_steps)
  tx = optax.adamw(rate, weight_decay=weight_decay) if weight_decay > 0 else optax.adam(rate)
  if grad_clip_norm > 0:  # only then: a chain changes the optimizer state that checkpoints hold
    tx = optax.chain(optax.clip_by_global_norm(grad_clip_norm), tx)
  if not train_only:
    return tx
  labels = lambda params: {name: jax.tree.map(lambda _: 'train' if name in train_only else 'frozen', entry)
                           for name, entry in params.items()}
  return optax.multi_transform({'train': tx, 'frozen': optax.set_to_zero()}, labels)


def run_optimizer(config: ExperimentConfig, train_records: int) -> optax.GradientTransformation:
  """A run's optimizer for a training set of ``train_records`` (the schedule counts its steps).

  Args:
    config: the run's settings (learning rate, weight decay, schedule, warm-up, epochs,
      batch size, a frozen encoder, gradient clipping).
    train_records: records in the training set.
  """
  warmup_steps, total_steps = _schedule_steps(config, train_records)
  if config.lr_schedule == 'constant':
    total_steps = 0  # unused by a constant rate: runs of other lengths share the optimizer, and so the compile
  return make_optimizer(config.learning_rate, weight_decay=config.weight_decay, schedule=config.lr_schedule,
                        warmup_steps=warmup_steps, total_steps=total_steps,
                        train_only=head_parameters(config.model) if config.freeze_encoder else (),
                        grad_clip_norm=config.grad_clip_norm)


def run_learning_rate(config: ExperimentConfig, train_records: int) -> Callable[[int], float]:
  """The step size ``run_optimizer`` applies at each step (a function of the step number), for logging."""
  rate = _rate(config.learning_rate, config.lr_schedule, *_schedule_steps(config, train_records))
  return (lambda step: float(rate(step))) if callable(rate) else (lambda step: float(rate))


def _schedule_steps(config: ExperimentConfig, train_records: int) -> tuple[int, int]:
  """(warm-up steps, total steps) of a run: the schedule counts the steps of its epochs."""
  steps_per_epoch = max(train_records // config.batch_size, 1)
  return int(round(config.warmup_epochs * steps_per_epoch)), config.epochs * steps_per_epoch


def _rate(learning_rate: float, schedule: str, warmup_steps: int, total_steps: int) -> float | optax.Schedule:
  # A constant rate stays a float: a schedule would add a step count to the optimizer
  # state and make checkpoints of earlier runs unreadable.
  if schedule == 'cosine':
    return optax.warmup_cosine_decay_schedule(0.0, learning_rate, warmup_steps, max(total_steps, warmup_steps + 1))
  if schedule == 'constant':
    return learning_rate if warmup_steps == 0 else optax.linear_schedule(0.0, learning_rate, warmup_steps)
  raise ValueError(f'unknown learning-rate schedule {schedule!r}; known: constant, cosine')


@functools.partial(jax.jit, static_argnums=(0, 2))
def _init(model: nn.Module, rng: jax.Array, record_shape: tuple[int, ...]) -> Any:
  # jit: an eager init compiles every op separately, which is slow on CPU; one
  # jitted function (not one per call) lets runs of the same model share the compile.
  return model.init(rng, jnp.zeros((1, *record_shape), jnp.float32), train=False)


def model_variables(state: TrainState) -> dict:
  """The ``{'params', 'batch_stats'}`` a Linen ``apply`` takes, from a training state."""
  return {'params': state.params, 'batch_stats': state.batch_stats}


def train_step(state: TrainState, batch: Mapping[str, jax.Array], rng: jax.Array, *,
               loss_fn: LossFn, compute_dtype: str | None = None) -> tuple[TrainState, dict[str, jax.Array]]:
  """One Adam step on the batch's mean per-example loss.

  Args:
    state: the current state.
    batch: ``waveforms`` (batch, time, channels) and ``labels`` (batch,).
    rng: the run's dropout key; the step number is folded in.
    loss_fn: per-example loss ``(logits, labels) -> (batch,)``.
    compute_dtype: e.g. 'bfloat16' for mixed precision of a module without a ``dtype``
      field of its own (a model built from the library's layers): the forward and
      backward passes run on a cast copy of the parameters and input, while the
      parameters, Adam moments, BatchNorm statistics (flax reduces them in float32)
      and the loss stay float32. None: all float32. ``experiment.run`` leaves it None:
      its registered models take the compute dtype as their ``dtype``
      (``models.model_kwargs``).

  Returns:
    (new state, metrics): ``loss`` (the batch's mean loss), ``correct`` (correct
    predictions), and the L2 norms over the whole parameter tree of the gradients
    (``l2_grads``, before any clipping), of the parameters after the step (``l2_params``)
    and of the step's change to them (``l2_updates``), as big_vision names them.
  """
  dropout_rng = jax.random.fold_in(rng, state.step)

  waveforms = batch['waveforms'] if compute_dtype is None else batch['waveforms'].astype(compute_dtype)

  def mean_loss(params):
    if compute_dtype is not None:
      params = cast_floating(params, compute_dtype)  # the cast's transpose returns float32 gradients
    logits, updates = state.apply_fn(
        {'params': params, 'batch_stats': state.batch_stats}, waveforms, train=True,
        mutable=['batch_stats'], rngs={'dropout': dropout_rng})
    logits = logits.astype(jnp.float32)
    stats = jax.tree.map(lambda new, old: new.astype(old.dtype), updates['batch_stats'], state.batch_stats)
    return jnp.mean(loss_fn(logits, batch['labels'])), (logits, stats)

  (loss, (logits, batch_stats)), grads = jax.value_and_grad(mean_loss, has_aux=True)(state.params)
  new = state.apply_gradients(grads=grads, batch_stats=batch_stats)
  correct = jnp.sum(jnp.argmax(logits, -1) == batch['labels'])
  updates = jax.tree.map(jnp.subtract, new.params, state.params)
  return new, {'loss': loss, 'correct': correct, 'l2_grads': optax.tree.norm(grads),
               'l2_params': optax.tree.norm(new.params), 'l2_updates': optax.tree.norm(updates)}


jit_train_step = jax.jit(train_step, static_argnames=('loss_fn', 'compute_dtype'), donate_argnums=(0,))


def check_finite(loss: float, *, step: int, epoch: int) -> None:
  """Stop on a NaN/inf loss, naming the step where it happened.

  Raises:
    FloatingPointError: if ``loss`` is not finite.
  """
  if not np.isfinite(loss):
    raise FloatingPointError(f'non-finite training loss {loss} at step {step} (epoch {epoch}); '
                             f'try a lower --config.learning_rate or --config.grad_clip_norm, or check the input '
                             f'records')


# Steps whose metrics are read together (StepMetrics).
READ_EVERY_STEPS = 16


class StepMetrics:
  """A training loop's per-step metrics, read on the host a window of steps late, each loss checked.

  Reading a step's metrics waits until the device has finished that step; reading every
  step would drain the queue of dispatched steps that keeps an accelerator busy. So
  metrics are read ``window`` steps at a time, one window behind the newest step: the
  device always holds up to a window of queued work, and the host waits about once per
  window. The price: a non-finite loss stops the run up to two windows of steps after
  it happened (nothing after it is checkpointed), and the error names the step where it
  happened.
  """

  def __init__(self, first_step: int, epoch: int, *, window: int = READ_EVERY_STEPS):
    """Args: first_step: the number of the first step added (state.step after it); epoch: for messages."""
    self.epoch, self.window = epoch, window
    self._next = first_step
    self._previous: list = []
    self._current: list = []

  def add(self, metrics: Mapping[str, jax.Array]) -> list[dict[str, float]]:
    """Hold one step's metrics (device arrays); returns the rows of a window that became due.

    Raises:
      FloatingPointError: naming the first step, among those read, whose loss is not finite.
    """
    self._current.append(metrics)
    if len(self._current) < self.window:
      return []
    due, self._previous, self._current = self._previous, self._current, []
    return self._read(due)

  def finish(self) -> list[dict[str, float]]:
    """The rows of every step not read yet (the end of an epoch: waits for its last step)."""
    due, self._previous, self._current = self._previous + self._current, [], []
    return self._read(due)

  def _read(self, window: list) -> list[dict[str, float]]:
    rows = []
    for metrics in jax.device_get(window):
      row = {'step': self._next, **{name: float(value) for name, value in metrics.items()}}
      check_finite(row['loss'], step=row['step'], epoch=self.epoch)
      rows.append(row)
      self._next += 1
    return rows


@jax.jit
def _batch_statistics(state: TrainState, waveforms: jax.Array) -> Any:
  # From zeroed running statistics one train-mode update leaves (1 - momentum) * batch
  # stats; each BatchNorm's momentum is read off the layer as the model calls it.
  momenta = {}

  def record_momentum(next_fun, args, kwargs, context):
    if isinstance(context.module, nn.BatchNorm) and context.method_name == '__call__':
      momenta[context.module.scope.path] = context.module.momentum
    return next_fun(*args, **kwargs)

  zeros = jax.tree.map(jnp.zeros_like, state.batch_stats)
  with nn.intercept_methods(record_momentum):
    _, updates = state.apply_fn({'params': state.params, 'batch_stats': zeros}, waveforms, train=True,
                                mutable=['batch_stats'], rngs={'dropout': jax.random.key(0)})
  flat = traverse_util.flatten_dict(updates['batch_stats'])
  return traverse_util.unflatten_dict({path: s / (1 - momenta[path[:-1]]) for path, s in flat.items()})


def precise_batch_stats(state: TrainState, batches) -> TrainState:
  """``state`` with BatchNorm running statistics replaced by their average over ``batches``.

  The paper trained ~1800 steps, after which Keras' moving averages (momentum 0.99)
  have forgotten their initial values; a short run on a small set makes tens of
  steps, after which the moving averages still carry ~half of their initial
  (0, 1) and evaluation-mode BatchNorm is off. Averaging the per-batch means and
  variances of the trained network over the training records ("precise BN",
  Wu & Johnson 2021) gives the statistics the moving averages converge to.
  Works for any ``flax.linen.BatchNorm`` momentum (each layer's is read as it runs).

  Args:
    state: the trained state.
    batches: iterable of (batch, time, channels) arrays, all of one shape.

  Returns:
    The state with new ``batch_stats`` (parameters unchanged).
  """
  total, count = None, 0
  for waveforms in batches:
    # Summed on the host: the statistics are small, and an eager jnp.add per layer
    # compiles once per distinct shape (~100 compiles, ~5 s of a short run).
    stats = jax.device_get(_batch_statistics(state, jnp.asarray(waveforms)))
    total = stats if total is None else jax.tree.map(np.add, total, stats)
    count += 1
  if count == 0:
    raise ValueError('precise_batch_stats needs at least one batch')
  mean = jax.tree.map(lambda s: (s / count).astype(s.dtype), total)
  # placed as the statistics they replace (one device, or replicated over a mesh), so the
  # next step takes them without compiling again
  return state.replace(batch_stats=jax.device_put(mean, jax.tree.map(lambda a: a.sharding, state.batch_stats)))
