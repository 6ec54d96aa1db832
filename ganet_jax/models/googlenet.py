"""GoogLeNet [11] of Table 1 as a 1-D network.

Jia, Chen & Xing, J. Seismol. 26(5), 2022, compare standard image architectures
on seismic records; the GA-Net paper reports their GoogLeNet at 5.12M trainable
parameters and gives no layer table. Assumed here: Szegedy et al.'s (CVPR 2015)
GoogLeNet (Inception v1) with its published widths -- stem, nine inception
modules (3a-5b) of parallel 1x1, 1x1->3, 1x1->5 and pool->1x1 branches, global
average pooling, dropout 0.4, classifier; no auxiliary classifiers -- made 1-D.
The stem keeps its 7- and 3-tap kernels. The inception branches' kernel sizes
are the one free choice and are set to land on Table 1's count: 7 taps for the
3x3 branch and 21 for the 5x5 branch, giving 5,141,282 parameters on a
10000 x 3 input (Table 1: 5.12M, 0.4% off). For comparison, 3 and 5 taps give
3.43M and 9 and 25 taps (the 2-D kernels' areas) 5.98M. BatchNorm follows
each convolution (Inception v2's practice).
"""

from __future__ import annotations

import functools
from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from ganet_jax.models.network import Network
from ganet_jax.nn.layers import ModuleFactory

# Szegedy et al. 2015, Table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
INCEPTION_WIDTHS = {
    '3a': (64, 96, 128, 16, 32, 32), '3b': (128, 128, 192, 32, 96, 64),
    '4a': (192, 96, 208, 16, 48, 64), '4b': (160, 112, 224, 24, 64, 64), '4c': (128, 128, 256, 24, 64, 64),
    '4d': (112, 144, 288, 32, 64, 64), '4e': (256, 160, 320, 32, 128, 128),
    '5a': (256, 160, 320, 32, 128, 128), '5b': (384, 192, 384, 48, 128, 128),
}


class ConvBN(nn.Module):
  """Conv 'SAME' + BN + ReLU, of the network's factories (``network.Layers``)."""
  features: int
  conv: ModuleFactory
  norm: Callable[..., jax.Array]
  kernel_size: int = 1
  strides: int = 1

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    x = self.conv(self.features, (self.kernel_size,), strides=(self.strides,), padding='SAME', use_bias=False)(x)
    return nn.relu(self.norm(x))


class Inception(nn.Module):
  """Four parallel branches concatenated over channels."""
  widths: Sequence[int]
  conv: ModuleFactory
  norm: Callable[..., jax.Array]
  small_kernel: int = 7
  large_kernel: int = 21

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    one, reduce_small, small, reduce_large, large, pool_proj = self.widths
    conv = lambda features, kernel_size=1: ConvBN(features, self.conv, self.norm, kernel_size)
    branch_one = conv(one)(x)
    branch_small = conv(small, self.small_kernel)(conv(reduce_small)(x))
    branch_large = conv(large, self.large_kernel)(conv(reduce_large)(x))
    branch_pool = conv(pool_proj)(nn.max_pool(x, (3,), strides=(1,), padding='SAME'))
    return jnp.concatenate([branch_one, branch_small, branch_large, branch_pool], axis=-1)


class GoogLeNet1D(Network):
  """1-D GoogLeNet (Inception v1 without auxiliary classifiers).

  Attributes:
    num_classes: classifier outputs.
    small_kernel, large_kernel: taps standing for the 3x3 and 5x5 kernels.
    stem_kernel, stem_small_kernel: taps standing for the stem's 7x7 and 3x3.
    dropout_rate: before the classifier (train=True only).
    (``Network``'s): norm; conv, which builds every convolution (stem and inception branches);
      dtype, param_dtype.
  """
  num_classes: int = 2
  small_kernel: int = 7
  large_kernel: int = 21
  stem_kernel: int = 7
  stem_small_kernel: int = 3
  dropout_rate: float = 0.4

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
    """Logits (batch, num_classes) for waveforms (batch, time, channels)."""
    layers = self.layers(train=train)
    conv_bn = functools.partial(ConvBN, conv=layers.conv, norm=layers.norm)
    pool = lambda y: nn.max_pool(y, (3,), strides=(2,), padding='SAME')
    inception = lambda name, y: Inception(INCEPTION_WIDTHS[name], layers.conv, layers.norm, self.small_kernel,
                                          self.large_kernel, name=f'inception_{name}')(y)
    x = pool(conv_bn(64, kernel_size=self.stem_kernel, strides=2)(x))
    x = conv_bn(64)(x)
    x = pool(conv_bn(192, kernel_size=self.stem_small_kernel)(x))
    x = pool(inception('3b', inception('3a', x)))
    for name in ('4a', '4b', '4c', '4d'):
      x = inception(name, x)
    x = pool(inception('4e', x))
    x = inception('5b', inception('5a', x))
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(jnp.mean(x, axis=-2))
    return layers.dense(self.num_classes, name='classifier')(x)
