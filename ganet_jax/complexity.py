"""Model size: parameter counts (and, for benchmarks, compute) of any Flax module."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from ganet_jax.conventions import WINDOW_SAMPLES


def parameter_count(params: Any) -> int:
  """Number of scalars in a parameter pytree (Keras' "trainable params": BN scale/bias, not its statistics)."""
  return sum(int(leaf.size) for leaf in jax.tree.leaves(params))


def abstract_variables(model: nn.Module, input_shape: tuple[int, ...] = (1, WINDOW_SAMPLES, 3)) -> Any:
  """Shapes of ``model.init`` without allocating or computing anything."""
  return jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros(input_shape, jnp.float32)))


def model_parameter_count(model: nn.Module, input_shape: tuple[int, ...] = (1, WINDOW_SAMPLES, 3)) -> int:
  """Trainable parameters of ``model`` built for ``input_shape`` (default one 10000 x 3 record)."""
  return parameter_count(abstract_variables(model, input_shape)['params'])
