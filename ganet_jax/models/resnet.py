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

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from ganet_jax.nn.layers import BatchNorm


class BasicBlock(nn.Module):
  """Two 3-tap conv + BN, with a 1x1 strided projection when the shape changes."""
  features: int
  strides: int = 1
  dtype: Any = None
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
    dtypes = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    norm = lambda name: BatchNorm(use_running_average=not train, name=name, **dtypes)
    y = nn.Conv(self.features, (3,), strides=(self.strides,), padding='SAME', use_bias=False, name='conv1',
                **dtypes)(x)
    y = nn.relu(norm('bn1')(y))
    y = nn.Conv(self.features, (3,), padding='SAME', use_bias=False, name='conv2', **dtypes)(y)
    y = norm('bn2')(y)
    if self.strides > 1 or x.shape[-1] != self.features:
      x = nn.Conv(self.features, (1,), strides=(self.strides,), use_bias=False, name='projection', **dtypes)(x)
      x = norm('projection_bn')(x)
    return nn.relu(y + x)


class ResNet1D(nn.Module):
  """1-D ResNet with basic blocks.

  Attributes:
    num_classes: classifier outputs.
    stage_sizes: blocks per stage (ResNet-34: 3, 4, 6, 3).
    widths: filters per stage.
    stem_features, stem_kernel: the first convolution (stride 2, then max-pool 3 / 2).
    dtype, param_dtype: computation and parameter dtypes, as in ``flax.linen``.
  """
  num_classes: int = 2
  stage_sizes: Sequence[int] = (3, 4, 6, 3)
  widths: Sequence[int] = (64, 128, 256, 512)
  stem_features: int = 64
  stem_kernel: int = 7
  dtype: Any = None
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
    """Logits (batch, num_classes) for waveforms (batch, time, channels)."""
    dtypes = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    x = nn.Conv(self.stem_features, (self.stem_kernel,), strides=(2,), padding='SAME', use_bias=False,
                name='stem_conv', **dtypes)(x)
    x = nn.relu(BatchNorm(use_running_average=not train, name='stem_bn', **dtypes)(x))
    x = nn.max_pool(x, (3,), strides=(2,), padding='SAME')
    for stage, (blocks, features) in enumerate(zip(self.stage_sizes, self.widths)):
      for block in range(blocks):
        strides = 2 if stage > 0 and block == 0 else 1
        x = BasicBlock(features, strides, name=f'stage{stage}_block{block}', **dtypes)(x, train=train)
    return nn.Dense(self.num_classes, name='classifier', **dtypes)(jnp.mean(x, axis=-2))
