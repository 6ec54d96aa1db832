"""The model and batch shared by the multi-process test and its workers."""

import jax
import numpy as np

from ganet_jax import GANet


def global_batch() -> np.ndarray:
  # records scaled 1..4: per-process statistics would differ from the global ones
  return np.asarray(jax.random.normal(jax.random.key(0), (4, 64, 3))) * np.arange(1, 5)[:, None, None]


def model_and_variables():
  model = GANet(num_bottlenecks=1, head_features=16, dropout_rate=0.0)
  # parameters from a fixed NumPy draw: identical in every process without compiling an init
  abstract = jax.eval_shape(model.init, jax.random.key(1), global_batch()[:1])
  rng = np.random.default_rng(0)
  variables = jax.tree.map(lambda leaf: (0.2 * rng.standard_normal(leaf.shape) + 0.5).astype(leaf.dtype), abstract)
  return model, variables
