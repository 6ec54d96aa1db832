"""Depthwise 1-D convolution: shifted slices on CPU, XLA's grouped convolution elsewhere.

XLA's CPU backend lowers ``feature_group_count == channels`` convolutions to a
slow generic path, many times slower than the same arithmetic written as K fused
multiply-adds (figures in benchmarks/README.md). A depthwise kernel only ever has a handful of taps, so
``sum_k x[t * stride + k] * w[k]`` is both the clearest and the fastest form on
CPU; XLA fuses it into one loop. GPU and TPU backends have dedicated depthwise
kernels for the grouped convolution, so ``impl='auto'`` picks per backend.

Its gradient is autodiff's: a hand-written VJP (input gradient as a polyphase
shifted-slice convolution of the output gradient with the flipped kernel, kernel
gradient as K sums over batch x time) compiles to the same fusions and used the
same CPU time (``benchmarks/depthwise_backward.py``, benchmarks/README.md).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

IMPLS = ('auto', 'slices', 'grouped')


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


def resolve_impl(impl: str) -> str:
  """'slices' or 'grouped' for ``impl``; 'auto' is 'slices' on CPU, 'grouped' on GPU/TPU."""
  if impl not in IMPLS:
    raise ValueError(f'depthwise impl must be one of {IMPLS}, got {impl!r}')
  if impl == 'auto':
    return 'slices' if jax.default_backend() == 'cpu' else 'grouped'
  return impl


def depthwise_conv1d(x: jax.Array, kernel: jax.Array, *, stride: int = 1, impl: str = 'auto') -> jax.Array:
  """Depthwise convolution with 'SAME' padding.

  Args:
    x: (..., time, channels) input.
    kernel: (kernel_size, channels) or (kernel_size, channels, multiplier) taps;
      with a multiplier m, output channel ``c * m + j`` is input channel ``c``
      filtered by ``kernel[:, c, j]`` (the layout of ``feature_group_count``).
    stride: temporal stride.
    impl: 'slices' (shifted slices: fastest on CPU),
      'grouped' (``lax.conv_general_dilated`` with ``feature_group_count``: the
      backends' depthwise kernels on GPU/TPU), or 'auto' (the first on CPU, the
      second elsewhere). Both give the same values and gradients.

  Returns:
    (..., ceil(time / stride), channels * multiplier) output.

  Raises:
    ValueError: if the kernel's channels differ from the input's, or for an unknown ``impl``.
  """
  if kernel.ndim == 2:
    kernel = kernel[:, :, None]
  kernel_size, channels, multiplier = kernel.shape
  if x.shape[-1] != channels:
    raise ValueError(f'depthwise kernel has {channels} channels, input has {x.shape[-1]}')
  impl = resolve_impl(impl)
  # the scope lets ganet_jax.models.complexity count these multiplications as MACs
  with jax.named_scope('depthwise_conv1d'):
    if impl == 'grouped':
      return grouped_depthwise_conv1d(x, kernel, stride=stride)
    out = _slices_conv(x, kernel.astype(x.dtype), stride)
  return out.reshape(*out.shape[:-2], channels * multiplier)


def _slices_conv(x: jax.Array, kernel: jax.Array, stride: int) -> jax.Array:
  """(..., out_time, channels, multiplier) output of the shifted-slice convolution."""
  windows = shifted_windows(x, kernel.shape[0], stride)
  taps = [window[..., None] * kernel[k] for k, window in enumerate(windows)]
  return sum(taps[1:], taps[0])


def grouped_depthwise_conv1d(x: jax.Array, kernel: jax.Array, *, stride: int = 1) -> jax.Array:
  """The same operation through ``lax.conv_general_dilated(feature_group_count=channels)``.

  Slow on CPU (XLA's generic grouped-convolution path); the fast form on GPU/TPU.
  """
  if kernel.ndim == 2:
    kernel = kernel[:, :, None]
  kernel_size, channels, multiplier = kernel.shape
  rhs = kernel.reshape(kernel_size, 1, channels * multiplier).astype(x.dtype)
  lead = x.shape[:-2]
  out = jax.lax.conv_general_dilated(
      x.reshape(-1, *x.shape[-2:]), rhs, window_strides=(stride,), padding='SAME',
      dimension_numbers=('NWC', 'WIO', 'NWC'), feature_group_count=channels)
  return out.reshape(*lead, *out.shape[-2:])


# the name the tests and benchmarks have used for the grouped formulation
reference_depthwise_conv1d = grouped_depthwise_conv1d
