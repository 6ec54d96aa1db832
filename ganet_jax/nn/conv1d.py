"""Few-channel 1-D convolution as one matrix product over stacked shifted slices (im2col).

XLA's CPU backend runs a convolution with a handful of input channels (GA-Net's
3-channel stem, CBAM's 2-channel spatial attention) through a generic path
whose backward pass is over ten times its forward (benchmarks/README.md). Stacking
the ``kernel_size`` shifted windows along channels turns it into a single
(batch * time, kernel_size * in_channels) x (kernel_size * in_channels, out)
matrix product whose gradients are matrix products and slices too. Only worth
it while ``kernel_size * in_channels`` is small: the stacked input is that many
times the size of the input.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ganet_jax.nn.depthwise import shifted_windows


def conv1d(x: jax.Array, kernel: jax.Array, *, stride: int = 1) -> jax.Array:
  """Cross-correlation with 'SAME' padding, as ``lax.conv_general_dilated`` in NWC/WIO layout computes it.

  Args:
    x: (..., time, in_channels) input.
    kernel: (kernel_size, in_channels, out_channels) weights.
    stride: temporal stride.

  Returns:
    (..., ceil(time / stride), out_channels) output.

  Raises:
    ValueError: if the kernel's input channels differ from the input's.
  """
  kernel_size, in_channels, out_channels = kernel.shape
  if x.shape[-1] != in_channels:
    raise ValueError(f'conv kernel has {in_channels} input channels, input has {x.shape[-1]}')
  # tap-major channel order matches kernel.reshape(kernel_size * in_channels, out)
  stacked = jnp.concatenate(shifted_windows(x, kernel_size, stride), axis=-1)
  # a 2-D product: its weight gradient then needs no transposed copy (see modules.PointwiseConv)
  flat = stacked.reshape(-1, kernel_size * in_channels)
  out = flat @ kernel.reshape(kernel_size * in_channels, out_channels).astype(x.dtype)
  return out.reshape(*stacked.shape[:-1], out_channels)
