"""Depthwise 1-D convolution written as a sum of shifted slices.

XLA's CPU backend lowers ``feature_group_count == channels`` convolutions to a
slow generic path (about 170 ms for one (32, 5000, 48) kernel-3 depthwise conv on
the 2-core reference machine, ~30x slower than the same arithmetic written as
K fused multiply-adds). A depthwise kernel only ever has a handful of taps, so
``sum_k x[t * stride + k] * w[k]`` is both the clearest and the fastest form; XLA
fuses it into one loop on CPU and GPU alike. ``reference_depthwise_conv1d`` is
the ``lax.conv_general_dilated`` formulation kept for tests.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def same_padding(length: int, kernel_size: int, stride: int) -> tuple[int, int]:
  """(left, right) padding of XLA's 'SAME' mode: output length ceil(length / stride)."""
  out_length = -(-length // stride)
  total = max((out_length - 1) * stride + kernel_size - length, 0)
  return total // 2, total - total // 2


def shifted_windows(x: jax.Array, kernel_size: int, stride: int) -> list[jax.Array]:
  """The ``kernel_size`` strided views of 'SAME'-padded ``x`` that a 1-D convolution's taps multiply.

  Args:
    x: (..., time, channels) input.
    kernel_size: taps.
    stride: temporal stride.

  Returns:
    ``kernel_size`` arrays (..., ceil(time / stride), channels); window ``k`` holds
    ``padded[k + t * stride]`` at output step ``t``.
  """
  length = x.shape[-2]
  out_length = -(-length // stride)
  left, right = same_padding(length, kernel_size, stride)
  padded = jnp.pad(x, [(0, 0)] * (x.ndim - 2) + [(left, right), (0, 0)])
  return [jax.lax.slice_in_dim(padded, k, k + (out_length - 1) * stride + 1, stride, axis=-2)
          for k in range(kernel_size)]


def depthwise_conv1d(x: jax.Array, kernel: jax.Array, *, stride: int = 1) -> jax.Array:
  """Depthwise convolution with 'SAME' padding.

  Args:
    x: (..., time, channels) input.
    kernel: (kernel_size, channels) or (kernel_size, channels, multiplier) taps;
      with a multiplier m, output channel ``c * m + j`` is input channel ``c``
      filtered by ``kernel[:, c, j]`` (the layout of ``feature_group_count``).
    stride: temporal stride.

  Returns:
    (..., ceil(time / stride), channels * multiplier) output.
  """
  if kernel.ndim == 2:
    kernel = kernel[:, :, None]
  kernel_size, channels, multiplier = kernel.shape
  if x.shape[-1] != channels:
    raise ValueError(f'depthwise kernel has {channels} channels, input has {x.shape[-1]}')
  # the scope lets ganet_jax.models.complexity count these multiplications as MACs
  with jax.named_scope('depthwise_conv1d'):
    windows = shifted_windows(x, kernel_size, stride)
    taps = [window[..., None] * kernel[k].astype(x.dtype) for k, window in enumerate(windows)]
    out = sum(taps[1:], taps[0])
  return out.reshape(*out.shape[:-2], channels * multiplier)


def reference_depthwise_conv1d(x: jax.Array, kernel: jax.Array, *, stride: int = 1) -> jax.Array:
  """The same operation through ``lax.conv_general_dilated`` (slow on CPU; for tests)."""
  if kernel.ndim == 2:
    kernel = kernel[:, :, None]
  kernel_size, channels, multiplier = kernel.shape
  rhs = kernel.reshape(kernel_size, 1, channels * multiplier)
  return jax.lax.conv_general_dilated(
      x, rhs, window_strides=(stride,), padding='SAME',
      dimension_numbers=('NWC', 'WIO', 'NWC'), feature_group_count=channels)
