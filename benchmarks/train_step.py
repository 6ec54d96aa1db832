"""The training step the benchmarks time and compile: one definition for all of them."""

from __future__ import annotations

from typing import Callable

import flax.linen as nn
import jax
import optax


def make_train_step(model: nn.Module, tx: optax.GradientTransformation) -> Callable:
  """The benchmarked training step: forward, softmax cross-entropy, backward, ``tx`` update.

  Takes and returns the state dict {params, batch_stats, opt_state, rng}; returns the loss too.
  """

  def train_step(state, x, y):
    rng, dropout_rng = jax.random.split(state['rng'])

    def loss_fn(params):
      logits, updates = model.apply({'params': params, 'batch_stats': state['batch_stats']}, x, train=True,
                                    mutable=['batch_stats'], rngs={'dropout': dropout_rng})
      return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), updates

    (loss, updates), grads = jax.value_and_grad(loss_fn, has_aux=True)(state['params'])
    param_updates, opt_state = tx.update(grads, state['opt_state'], state['params'])
    return {'params': optax.apply_updates(state['params'], param_updates),
            'batch_stats': updates['batch_stats'], 'opt_state': opt_state, 'rng': rng}, loss

  return train_step
