"""Building blocks of GA-Net as Flax Linen modules (paper Section II, Fig. 1 b-c).

Every module takes channels-last input ``(batch, time, channels)`` of any length
and channel count, and has the signature ``__call__(x, *, train)`` where it holds
batch statistics. Vocabulary follows GhostNet (Han et al., CVPR 2020) and CBAM
(Woo et al., ECCV 2018): ``ratio``, ``dw_size``, primary conv + cheap operation,
``reduction`` of the shared MLP.
"""

from __future__ import annotations

import functools
import math
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from ganet_jax.nn.conv1d import conv1d
from ganet_jax.nn.depthwise import depthwise_conv1d

# BatchNorm with Keras' defaults (the paper's framework): momentum 0.99, eps 1e-3.
BatchNorm = functools.partial(nn.BatchNorm, momentum=0.99, epsilon=1e-3)


class PointwiseConv(nn.Module):
  """1x1 convolution as a matrix product over channels (no grouped-conv path)."""
  features: int
  use_bias: bool = False

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    dense = nn.Dense(self.features, use_bias=self.use_bias, kernel_init=nn.initializers.he_normal())
    # Flattening (batch, time) makes the weight gradient a plain 2-D x^T g product; with
    # two contracted axes XLA's CPU backend first transposes g in memory (a third of the
    # backward time of the large 1x1 convs; benchmarks/README.md).
    return dense(x.reshape(-1, x.shape[-1])).reshape(*x.shape[:-1], self.features)


class Conv1D(nn.Module):
  """'SAME' convolution with few input channels, computed by ``ganet_jax.nn.conv1d`` (im2col).

  Holds the same ``kernel`` (kernel_size, in_channels, features) as ``nn.Conv``.
  """
  features: int
  kernel_size: int
  strides: int = 1
  use_bias: bool = False
  kernel_init: Callable = nn.initializers.lecun_normal()

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.param('kernel', self.kernel_init, (self.kernel_size, x.shape[-1], self.features))
    y = conv1d(x, kernel, stride=self.strides)
    if self.use_bias:
      y = y + self.param('bias', nn.initializers.zeros, (self.features,))
    return y


class DepthwiseConv1D(nn.Module):
  """Depthwise conv, 'SAME' padding; output channels = input channels x multiplier."""
  kernel_size: int = 3
  strides: int = 1
  multiplier: int = 1
  use_bias: bool = False

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    channels = x.shape[-1]
    # fan-in of a depthwise filter is its kernel size.
    kernel = self.param('kernel', nn.initializers.variance_scaling(2.0, 'fan_in', 'normal', in_axis=0, out_axis=(1, 2)),
                        (self.kernel_size, channels, self.multiplier))
    y = depthwise_conv1d(x, kernel, stride=self.strides)
    if self.use_bias:
      y = y + self.param('bias', nn.initializers.zeros, (channels * self.multiplier,))
    return y


class GhostModule(nn.Module):
  """Ghost module (eqs. 1-3): intrinsic maps from a 1x1 conv, ghost maps from a cheap depthwise conv.

  ``ceil(features / ratio)`` intrinsic maps come from the primary 1x1 convolution
  (eq. 1); each of them yields ``ratio - 1`` ghost maps through a depthwise
  convolution of size ``dw_size`` (eqs. 2-3); the two are concatenated and the
  first ``features`` channels kept.

  Attributes:
    features: number of output channels N = C2 + C3.
    ratio: N / C2, the share of maps made by the primary convolution.
    dw_size: kernel size of the cheap depthwise operation (1x3 in the paper).
    relu: apply ReLU after each part (off for a bottleneck's projection module).
  """
  features: int
  ratio: int = 2
  dw_size: int = 3
  relu: bool = True

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
    if self.ratio < 2:
      raise ValueError(f'GhostModule ratio must be >= 2, got {self.ratio}')
    activation = nn.relu if self.relu else (lambda y: y)
    intrinsic_channels = math.ceil(self.features / self.ratio)
    intrinsic = PointwiseConv(intrinsic_channels, name='primary_conv')(x)
    intrinsic = activation(BatchNorm(use_running_average=not train, name='primary_bn')(intrinsic))
    ghost = DepthwiseConv1D(self.dw_size, multiplier=self.ratio - 1, name='cheap_conv')(intrinsic)
    ghost = activation(BatchNorm(use_running_average=not train, name='cheap_bn')(ghost))
    return jnp.concatenate([intrinsic, ghost], axis=-1)[..., :self.features]


class ConvModule(nn.Module):
  """An ordinary conv + BN (+ ReLU) of the same output width: the "w/o GM" ablation's stand-in."""
  features: int
  kernel_size: int = 3
  relu: bool = True

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
    y = nn.Conv(self.features, (self.kernel_size,), padding='SAME', use_bias=False,
                kernel_init=nn.initializers.he_normal())(x)
    y = BatchNorm(use_running_average=not train)(y)
    return nn.relu(y) if self.relu else y


class GhostBottleneck(nn.Module):
  """Ghost bottleneck: expansion ghost module, optional strided depthwise conv, projection ghost module, shortcut.

  Attributes:
    mid_features: channels after the expansion module.
    out_features: channels after the projection module.
    strides: temporal stride of the depthwise conv between the two modules.
    dw_kernel_size: kernel size of that strided depthwise conv (and of the shortcut's).
    ratio, dw_size: passed to both ghost modules.
    use_ghost: False replaces both ghost modules by ordinary convolutions of the
      same widths (the paper's "w/o GM" ablation).
  """
  mid_features: int
  out_features: int
  strides: int = 1
  dw_kernel_size: int = 3
  ratio: int = 2
  dw_size: int = 3
  use_ghost: bool = True

  def _feature_module(self, features: int, relu: bool, name: str) -> nn.Module:
    if self.use_ghost:
      return GhostModule(features, ratio=self.ratio, dw_size=self.dw_size, relu=relu, name=name)
    return ConvModule(features, kernel_size=self.dw_size, relu=relu, name=name)

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
    y = self._feature_module(self.mid_features, True, 'ghost1')(x, train=train)
    if self.strides > 1:
      y = DepthwiseConv1D(self.dw_kernel_size, self.strides, name='dw_conv')(y)
      y = BatchNorm(use_running_average=not train, name='dw_bn')(y)
    y = self._feature_module(self.out_features, False, 'ghost2')(y, train=train)

    if self.strides == 1 and x.shape[-1] == self.out_features:
      shortcut = x
    else:
      shortcut = DepthwiseConv1D(self.dw_kernel_size, self.strides, name='shortcut_dw')(x)
      shortcut = BatchNorm(use_running_average=not train, name='shortcut_dw_bn')(shortcut)
      shortcut = PointwiseConv(self.out_features, name='shortcut_pw')(shortcut)
      shortcut = BatchNorm(use_running_average=not train, name='shortcut_pw_bn')(shortcut)
    return y + shortcut


class ChannelAttention(nn.Module):
  """CBAM channel attention (eq. 4): x * sigmoid(MLP(avgpool x) + MLP(maxpool x)).

  Attributes:
    reduction: the shared MLP's hidden width is ``max(channels // reduction, 1)``.
  """
  reduction: int = 16

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    channels = x.shape[-1]
    hidden = max(channels // self.reduction, 1)
    shared_mlp = nn.Sequential([nn.Dense(hidden, name='w0'), nn.relu, nn.Dense(channels, name='w1')])
    avg = jnp.mean(x, axis=-2, keepdims=True)
    mx = jnp.max(x, axis=-2, keepdims=True)
    return x * nn.sigmoid(shared_mlp(avg) + shared_mlp(mx))


class SpatialAttention(nn.Module):
  """CBAM spatial attention (eq. 5): x * sigmoid(conv_k([mean_c x; max_c x])).

  The weights sigmoid(...), (batch, time), are sown as ``intermediates/spatial_attention``:
  ``apply(..., mutable=['intermediates'])`` returns them (``ganet_jax.evaluation.attention``);
  any other apply ignores them.
  """
  kernel_size: int = 7

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    pooled = jnp.concatenate([jnp.mean(x, axis=-1, keepdims=True),
                              jnp.max(x, axis=-1, keepdims=True)], axis=-1)
    # two input channels: XLA's generic conv path is ~10x slower here (forward; 1.5x with backward)
    weights = nn.sigmoid(Conv1D(1, self.kernel_size, name='conv')(pooled))
    self.sow('intermediates', 'spatial_attention', weights[..., 0])
    return x * weights


class CBAM(nn.Module):
  """Convolutional block attention module: channel attention, then spatial attention (Fig. 1 c)."""
  reduction: int = 16
  kernel_size: int = 7

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    x = ChannelAttention(self.reduction, name='channel')(x)
    return SpatialAttention(self.kernel_size, name='spatial')(x)
