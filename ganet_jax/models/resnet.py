"""ResNet [11] of Table 1 as a 1-D network.

Jia, Chen & Xing, "Rapid classification of local seismic events using machine
learning", J. Seismol. 26(5), 2022, compare standard image architectures on
seismic records; the GA-Net paper reports their ResNet at 7.13M trainable
parameters and gives no layer table. Assumed here: He et al.'s (CVPR 2016)
ResNet-34 layout -- a 7-tap stride-2 stem with 64 filters and max-pool, then
basic blocks (two 3-tap conv + BN, identity or 1x1 projection shortcut) in
stages of 3, 4, 6, 3 blocks with 64, 128, 256, 512 filters, global average
pooling and a classifier -- with every k x k kernel made a k-tap 1-D kernel.
That gives 7,220,162 parameters on a 10000 x 3 input (Table 1: 7.13M, 1.3%
off), which is why ResNet-34 rather than ResNet-18 (3.85M) is assumed.
"""

from __future__ import annotations

import functools
from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from ganet_jax.models.network import Network
from ganet_jax.nn.layers import ModuleFactory


class BasicBlock(nn.Module):
  """Two 3-tap conv + BN, with a 1x1 strided projection when the shape changes.

  ``conv`` and ``norm`` are the network's factories (``network.Layers``).
  """
  features: int
  conv: ModuleFactory
  norm: Callable[..., jax.Array]
  strides: int = 1

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    conv = functools.partial(self.conv, self.features, use_bias=False)
    y = nn.relu(self.norm(conv((3,), strides=(self.strides,), padding='SAME', name='conv1')(x), name='bn1'))
    y = self.norm(conv((3,), padding='SAME', name='conv2')(y), name='bn2')
    if self.strides > 1 or x.shape[-1] != self.features:
      x = self.norm(conv((1,), strides=(self.strides,), name='projection')(x), name='projection_bn')
    return nn.relu(y + x)


class ResNet1D(Network):
  """1-D ResNet with basic blocks.

  Attributes:
    num_classes: classifier outputs.
    stage_sizes: blocks per stage (ResNet-34: 3, 4, 6, 3).
    widths: filters per stage.
    stem_features, stem_kernel: the first convolution (stride 2, then max-pool 3 / 2).
    (``Network``'s): norm; conv, which builds every convolution (stem, blocks, projections);
      dtype, param_dtype.
  """
  num_classes: int = 2
  stage_sizes: Sequence[int] = (3, 4, 6, 3)
  widths: Sequence[int] = (64, 128, 256, 512)
  stem_features: int = 64
  stem_kernel: int = 7

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
    """Logits (batch, num_classes) for waveforms (batch, time, channels)."""
    layers = self.layers(train=train)
    x = layers.conv(self.stem_features, (self.stem_kernel,), strides=(2,), padding='SAME', use_bias=False,
                    name='stem_conv')(x)
    x = nn.relu(layers.norm(x, name='stem_bn'))
    x = nn.max_pool(x, (3,), strides=(2,), padding='SAME')
    for stage, (blocks, features) in enumerate(zip(self.stage_sizes, self.widths)):
      for block in range(blocks):
        strides = 2 if stage > 0 and block == 0 else 1
        x = BasicBlock(features, layers.conv, layers.norm, strides, name=f'stage{stage}_block{block}')(x)
    return layers.dense(self.num_classes, name='classifier')(jnp.mean(x, axis=-2))
