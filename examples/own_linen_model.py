r"""GA-Net's layers inside your own Flax Linen model, trained with a jitted optax step you write.

  python -m examples.own_linen_model
  python -m examples.own_linen_model --steps=60 --samples=512

``GhostClassifier`` stacks a ``GhostModule``, a strided ``GhostBottleneck`` and a
``CBAM`` before a pooled dense head. The data are toy 3-component records (class 0:
a 2 Hz wave, class 1: a 15 Hz wave, both in noise at 100 Hz), so the network learns
in a few dozen steps on a CPU. The training step is plain JAX + optax: the layers
need ``train=True`` and a mutable ``batch_stats`` collection while training, and the
model's own ``nn.Dropout`` needs a ``dropout`` rng; nothing else of the library is used.
"""

from __future__ import annotations

import argparse
import functools
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from ganet_jax import CBAM, BatchNorm, GhostBottleneck, GhostModule

SAMPLING_RATE = 100.0
FREQUENCIES_HZ = (2.0, 15.0)  # class 0, class 1


class GhostClassifier(nn.Module):
  """A small 1-D classifier built from GA-Net's layers.

  Attributes:
    features: channels of the ghost module and of the bottleneck's output.
    num_classes: logits returned.
    dropout_rate: dropout before the head (needs a 'dropout' rng when training).
  """
  features: int = 16
  num_classes: int = 2
  dropout_rate: float = 0.1

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
    # Faster-moving BatchNorm statistics than the Keras default (0.99), so that running
    # averages are usable for evaluation after a few dozen steps.
    norm = functools.partial(BatchNorm, momentum=0.9)
    x = GhostModule(self.features, norm=norm)(x, train=train)
    x = GhostBottleneck(mid_features=2 * self.features, out_features=self.features, strides=2,
                        norm=norm)(x, train=train)
    x = CBAM(reduction=4)(x)
    x = jnp.mean(x, axis=1)  # global average pool over time
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    return nn.Dense(self.num_classes)(x)


def toy_batch(rng: np.random.Generator, batch_size: int, samples: int) -> dict[str, np.ndarray]:
  """Toy records: ``waveforms`` (batch, samples, 3) float32 and ``labels`` (batch,) int32 in {0, 1}."""
  labels = rng.integers(0, 2, batch_size).astype(np.int32)
  t = np.arange(samples) / SAMPLING_RATE
  frequency = np.asarray(FREQUENCIES_HZ)[labels][:, None, None]
  phase = rng.uniform(0, 2 * np.pi, (batch_size, 1, 3))
  amplitude = rng.uniform(0.5, 2.0, (batch_size, 1, 3))
  waves = amplitude * np.sin(2 * np.pi * frequency * t[None, :, None] + phase)
  noise = 0.5 * rng.standard_normal((batch_size, samples, 3))
  return {'waveforms': (waves + noise).astype(np.float32), 'labels': labels}


def make_train_step(model: nn.Module, tx: optax.GradientTransformation):
  """A jitted step ``(params, batch_stats, opt_state, batch, dropout_rng) -> (..., metrics)``.

  The old parameters and optimizer state are donated: XLA updates them in place.
  """

  @functools.partial(jax.jit, donate_argnums=(0, 1, 2))
  def step(params, batch_stats, opt_state, batch, dropout_rng):
    def loss_fn(params):
      logits, updates = model.apply({'params': params, 'batch_stats': batch_stats}, batch['waveforms'],
                                    train=True, mutable=['batch_stats'], rngs={'dropout': dropout_rng})
      loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch['labels']).mean()
      return loss, (logits, updates['batch_stats'])

    (loss, (logits, batch_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
    accuracy = jnp.mean(jnp.argmax(logits, -1) == batch['labels'])
    return params, batch_stats, opt_state, {'loss': loss, 'accuracy': accuracy}

  return step


@functools.partial(jax.jit, static_argnums=0)
def evaluate(model: nn.Module, variables: Any, batch: dict[str, jax.Array]) -> jax.Array:
  """Accuracy with running BatchNorm statistics and no dropout (``train=False``)."""
  logits = model.apply(variables, batch['waveforms'], train=False)
  return jnp.mean(jnp.argmax(logits, -1) == batch['labels'])


def train(*, steps: int = 40, batch_size: int = 16, samples: int = 256, learning_rate: float = 3e-3,
          features: int = 16, seed: int = 0) -> dict[str, Any]:
  """Train ``GhostClassifier`` on toy records and evaluate it on new ones.

  Returns:
    {'losses': per-step training loss, 'test_accuracy': accuracy on 128 new records,
     'model': the module, 'variables': its trained params and batch_stats}.
  """
  data = np.random.default_rng(seed)
  model = GhostClassifier(features=features)
  init_rng, dropout_rng = jax.random.split(jax.random.key(seed))
  # jit: an eager init runs (and compiles) every operation on its own, which is slow on CPU
  variables = jax.jit(functools.partial(model.init, train=False))(init_rng, jnp.zeros((1, samples, 3)))
  params, batch_stats = variables['params'], variables['batch_stats']
  tx = optax.adam(learning_rate)
  opt_state = tx.init(params)
  step = make_train_step(model, tx)
  losses = []
  for i in range(steps):
    batch = toy_batch(data, batch_size, samples)
    params, batch_stats, opt_state, metrics = step(params, batch_stats, opt_state, batch,
                                                   jax.random.fold_in(dropout_rng, i))
    losses.append(float(metrics['loss']))
  variables = {'params': params, 'batch_stats': batch_stats}
  test_accuracy = float(evaluate(model, variables, toy_batch(data, 128, samples)))
  return {'losses': losses, 'test_accuracy': test_accuracy, 'model': model, 'variables': variables}


def run_main(train_fn, argv: Sequence[str] | None, description: str) -> dict[str, Any]:
  """Parse the toy-training flags, call ``train_fn`` with them and print how training went."""
  parser = argparse.ArgumentParser(description=description)
  parser.add_argument('--steps', type=int, default=40)
  parser.add_argument('--batch_size', type=int, default=16)
  parser.add_argument('--samples', type=int, default=256, help='samples per record (100 Hz)')
  parser.add_argument('--seed', type=int, default=0)
  args = parser.parse_args(argv)
  result = train_fn(steps=args.steps, batch_size=args.batch_size, samples=args.samples, seed=args.seed)
  losses = result['losses']
  print(f'{len(losses)} steps: loss {np.mean(losses[:5]):.3f} (first 5) -> {np.mean(losses[-5:]):.3f} '
        f'(last 5); accuracy on new records {result["test_accuracy"]:.3f}')
  return result


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
  return run_main(train, argv, __doc__.splitlines()[0])


if __name__ == '__main__':
  main()
