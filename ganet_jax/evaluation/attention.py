"""CBAM spatial attention of a record, on the record's own time axis.

Every ``SpatialAttention`` sows its weights, sigmoid(conv([mean_c x; max_c x])) in [0, 1],
one per time step of the feature map it gates. A CBAM after a stride-s stage sees
ceil(samples / s) steps, each standing for s consecutive input samples, so a weight is
held over the samples its step stands for: step i of n covers samples
[i * samples / n, (i + 1) * samples / n). Applying with ``mutable=['intermediates']``
only collects the weights: the logits are those of a plain ``apply``.
"""

from __future__ import annotations

import functools
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

SOWN_NAME = 'spatial_attention'  # what ``SpatialAttention`` sows into 'intermediates'


@functools.partial(jax.jit, static_argnums=0)
def _logits_and_intermediates(model: nn.Module, variables: Any, waveforms: jax.Array):
  logits, state = model.apply(variables, waveforms, train=False, mutable=['intermediates'])
  return logits, state.get('intermediates', {})


def _stage_name(path: tuple[str, ...]) -> str:
  """'cbam_bottleneck_0' for ('cbam_bottleneck_0', 'spatial'): the CBAM that holds the attention."""
  if len(path) > 1 and path[-1] == 'spatial':
    path = path[:-1]
  return '/'.join(path)


def spatial_attention(model: nn.Module, variables: Any, waveforms: np.ndarray) -> dict[str, np.ndarray]:
  """The spatial-attention weights of every CBAM stage, at each stage's own resolution.

  Args:
    model: the Linen module (e.g. ``GANet``; a network without CBAM gives {}).
    variables: {'params': ..., 'batch_stats': ...}.
    waveforms: (batch, samples, channels) records, as the model takes them.

  Returns:
    {stage: (batch, steps) float32 weights in [0, 1]}, stages in network order
    (e.g. 'cbam_bottleneck_0', ..., 'cbam_flatten').
  """
  _, intermediates = _logits_and_intermediates(model, variables, jnp.asarray(waveforms, jnp.float32))
  flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(intermediates))
  return {_stage_name(path[:-1]): np.asarray(sown[0], np.float32)
          for path, sown in flat.items() if path[-1] == SOWN_NAME}


def hold_on_record_axis(weights: np.ndarray, samples: int) -> np.ndarray:
  """A stage's (steps,) weights on a (samples,) axis: each held over the samples its step stands for."""
  weights = np.asarray(weights)
  step_of_sample = (np.arange(samples) * len(weights)) // samples
  return weights[step_of_sample]


def record_attention(model: nn.Module, variables: Any, window: np.ndarray) -> dict[str, np.ndarray]:
  """One record's spatial-attention weights of every CBAM stage, aligned to its samples.

  Args:
    model: the Linen module.
    variables: {'params': ..., 'batch_stats': ...}.
    window: the (samples, channels) record the model classifies.

  Returns:
    {stage: (samples,) weights in [0, 1]}, stages in network order; sample j of
    every stage is the weight the stage gave the part of the record holding j.
  """
  window = np.asarray(window, np.float32)
  by_stage = spatial_attention(model, variables, window[None])
  return {stage: hold_on_record_axis(weights[0], len(window)) for stage, weights in by_stage.items()}
