"""Depthwise 1-D convolution: shifted slices on CPU, XLA's grouped convolution elsewhere.

XLA's CPU backend lowers ``feature_group_count == channels`` convolutions to a
slow generic path, many times slower than the same arithmetic written as K fused
multiply-adds (figures in benchmarks/README.md). A depthwise kernel only ever has a handful of taps, so
``sum_k x[t * stride + k] * w[k]`` is both the clearest and the fastest form on
CPU; XLA fuses it into one loop. GPU and TPU backends have dedicated depthwise
kernels for the grouped convolution, so ``impl='auto'`` picks per backend.

Its gradient is hand-written for memory, not speed. Autodiff's backward reads
the K strided windows of the input, and XLA keeps them materialised from the
forward pass to the backward pass: K (or K / stride) copies of every depthwise
input held across the training step, the largest share of GA-Net's compiled
temporaries (benchmarks/README.md, memory). The VJP keeps the input alone and
slices it again in the backward pass, after the cotangent
(``ganet_jax.nn.recompute.depends_on``: otherwise XLA merges those slices with
the forward's and holds them all the same); its input gradient
is a polyphase shifted-slice convolution of the cotangent with the kernel, where
autodiff's transposed slices would materialise K input-sized padded copies.
Same values up to float32 rounding (``tests/test_depthwise.py``).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from ganet_jax.nn.recompute import depends_on

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
    out = _slices_conv_low_memory(x, kernel.astype(x.dtype), stride)
  return out.reshape(*out.shape[:-2], channels * multiplier)


def _slices_conv(x: jax.Array, kernel: jax.Array, stride: int) -> jax.Array:
  """(..., out_time, channels, multiplier) output of the shifted-slice convolution; autodiff's gradient."""
  windows = shifted_windows(x, kernel.shape[0], stride)
  taps = [window[..., None] * kernel[k] for k, window in enumerate(windows)]
  return sum(taps[1:], taps[0])


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _slices_conv_low_memory(x: jax.Array, kernel: jax.Array, stride: int) -> jax.Array:
  """``_slices_conv`` whose backward pass keeps ``x``, not its windows (module docstring)."""
  return _slices_conv(x, kernel, stride)


def _low_memory_forward(x: jax.Array, kernel: jax.Array, stride: int):
  return _slices_conv(x, kernel, stride), (x, kernel)


def _low_memory_backward(stride: int, residuals, grad: jax.Array):
  x, kernel = residuals
  windows = shifted_windows(depends_on(x, grad), kernel.shape[0], stride)
  batch_axes = tuple(range(grad.ndim - 2))  # all but (channels, multiplier)
  kernel_grad = jnp.stack([jnp.sum(window[..., None] * grad, axis=batch_axes) for window in windows])
  return _input_gradient(grad, kernel, x.shape[-2], stride), kernel_grad


_slices_conv_low_memory.defvjp(_low_memory_forward, _low_memory_backward)


def _input_gradient(grad: jax.Array, kernel: jax.Array, length: int, stride: int) -> jax.Array:
  """(..., length, channels) gradient of the shifted-slice convolution with respect to its input.

  Padded-input position ``q * stride + r`` (phase ``r``) receives ``grad[q - i] * kernel[r + i * stride]``
  for every tap of that phase, summed over the multiplier: per phase one shifted-slice
  convolution of ``grad``, the phases then interleaved and the padding cut off.
  """
  kernel_size, channels, _ = kernel.shape
  out_length = grad.shape[-3]
  left, right = same_padding(length, kernel_size, stride)
  taps_per_phase = -(-kernel_size // stride)
  steps = -(-(length + left + right) // stride)  # q takes values in [0, steps)
  # grad[q - i] is padded[q - i + taps_per_phase - 1]: zeros where q - i falls outside grad
  time_axis = grad.ndim - 3
  pads = [(0, 0, 0)] * grad.ndim
  pads[time_axis] = (taps_per_phase - 1, steps - out_length, 0)
  padded = jax.lax.pad(grad, jnp.zeros((), grad.dtype), pads)
  phases = []
  for r in range(stride):
    terms = [jnp.sum(jax.lax.slice_in_dim(padded, taps_per_phase - 1 - i, taps_per_phase - 1 - i + steps,
                                          axis=time_axis) * kernel[r + i * stride], axis=-1)
             for i in range(taps_per_phase) if r + i * stride < kernel_size]
    phases.append(sum(terms[1:], terms[0]) if terms else jnp.zeros((*grad.shape[:-3], steps, channels), grad.dtype))
  interleaved = jnp.stack(phases, axis=-2).reshape(*grad.shape[:-3], steps * stride, channels)
  return jax.lax.slice_in_dim(interleaved, left, left + length, axis=-2)


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
