r"""The library's training state and step on your own model (``GhostClassifier`` of ``own_linen_model``).

  python -m examples.library_train_step
  python -m examples.library_train_step --steps=60

``create_train_state`` initialises any Linen module taking ``(x, *, train)`` and holds
its parameters, BatchNorm statistics and optimizer; ``train_step`` is one step on a
batch ``{'waveforms': (batch, time, channels), 'labels': (batch,)}`` with a
per-example loss (``cross_entropy`` here), the dropout key folded with the step number.
The step is a pure function: jit it, and donate the state so that XLA updates it in place.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from examples.own_linen_model import GhostClassifier, evaluate, run_main, toy_batch
from ganet_jax.training import create_train_state, cross_entropy, model_variables, train_step


def train(*, steps: int = 40, batch_size: int = 16, samples: int = 256, learning_rate: float = 3e-3,
          features: int = 16, seed: int = 0) -> dict[str, Any]:
  """Train ``GhostClassifier`` with the library's step on toy records and evaluate it on new ones.

  Returns:
    {'losses': per-step training loss, 'test_accuracy': accuracy on 128 new records,
     'state': the final ``TrainState``}.
  """
  data = np.random.default_rng(seed)
  model = GhostClassifier(features=features)
  init_rng, dropout_rng = jax.random.split(jax.random.key(seed))
  state = create_train_state(model, init_rng, (batch_size, samples, 3), learning_rate=learning_rate)
  # loss_fn is a static argument of the step; donating the state lets XLA reuse its buffers.
  step = jax.jit(functools.partial(train_step, loss_fn=cross_entropy), donate_argnums=0)
  losses = []
  for _ in range(steps):
    state, metrics = step(state, jax.tree.map(jnp.asarray, toy_batch(data, batch_size, samples)), dropout_rng)
    losses.append(float(metrics['loss']))
  test_accuracy = float(evaluate(model, model_variables(state), toy_batch(data, 128, samples)))
  return {'losses': losses, 'test_accuracy': test_accuracy, 'state': state}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
  return run_main(train, argv, __doc__.splitlines()[0])


if __name__ == '__main__':
  main()
