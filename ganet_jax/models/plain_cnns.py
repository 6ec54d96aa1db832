"""Table 1's plain convolutional baselines: CNN [10], VGG [11], CNN [12], CNN [13].

The GA-Net paper gives only each network's reference and trainable-parameter
count (Table 1). The layer tables below follow each reference's kind of network
(stacked conv + pooling blocks, then dense layers) adapted to the 10000 x 3,
100-s, 100-Hz records GA-Net uses; where the reference's exact widths were not
available to us, the widths are an assumption chosen so that the count on a
10000 x 3 input lands within 2% of Table 1's figure. Every class states its
assumptions; all use BatchNorm after each convolution (statistics in
'batch_stats') and dropout before the classifier (rng 'dropout'). ``dtype`` and
``param_dtype`` are flax's, as in GA-Net: computation and parameter dtypes.
"""

from __future__ import annotations

from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from ganet_jax.models.network import Network
from ganet_jax.nn.layers import ModuleFactory


class ConvBlock(nn.Module):
  """``convs_per_block`` x (conv 'SAME', BN, ReLU), then max-pool by ``pool``.

  ``conv`` and ``norm`` are the network's factories (``network.Layers``).
  """
  features: int
  conv: ModuleFactory
  norm: Callable[..., jax.Array]
  kernel_size: int = 3
  convs_per_block: int = 1
  pool: int = 2

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    for _ in range(self.convs_per_block):
      x = nn.relu(self.norm(self.conv(self.features, (self.kernel_size,), padding='SAME', use_bias=False)(x)))
    if self.pool > 1:
      x = nn.max_pool(x, (self.pool,), strides=(self.pool,), padding='SAME')
    return x


class PlainCNN(Network):
  """Conv blocks, then either flatten + dense layers or global average pooling, then a classifier.

  Attributes:
    num_classes: classifier outputs.
    widths: filters of each conv block.
    kernel_size: taps of every convolution.
    convs_per_block: convolutions before each pooling (2 gives VGG's pairs).
    pool: max-pooling factor after each block.
    dense: hidden widths of the dense layers after the conv blocks.
    flatten: True flattens (time x channels) into the dense layers; False
      averages over time first.
    dropout_rate: dropout before each dense layer (train=True only).
    (``Network``'s): norm; conv, which builds every convolution; dtype, param_dtype.
  """
  num_classes: int = 2
  widths: Sequence[int] = (32, 32, 32, 32, 32)
  kernel_size: int = 3
  convs_per_block: int = 1
  pool: int = 2
  dense: Sequence[int] = (128,)
  flatten: bool = True
  dropout_rate: float = 0.5

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
    """Logits (batch, num_classes) for waveforms (batch, time, channels)."""
    layers = self.layers(train=train)
    for features in self.widths:
      x = ConvBlock(features, layers.conv, layers.norm, self.kernel_size, self.convs_per_block, self.pool)(x)
    x = x.reshape(x.shape[0], -1) if self.flatten else jnp.mean(x, axis=-2)
    for features in self.dense:
      x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
      x = nn.relu(layers.dense(features)(x))
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    return layers.dense(self.num_classes)(x)


def cnn_liu2020(**overrides) -> PlainCNN:
  """CNN [10]: Liu, Ren, Chen & Chen, GJI 224(1), 2020 (Table 1: 1.36M parameters).

  The reference classifies the same kind of 100-s, three-component records with
  a stack of small convolution + max-pooling layers followed by a fully
  connected layer. Assumed here: five blocks of conv(32 filters, 3 taps) + BN +
  ReLU + max-pool 2 (10000 -> 313 samples), flatten, dense 135, dropout 0.5,
  classifier. The flattened dense layer holds most of the weights, as in the
  reference: 1,365,463 parameters on a 10000 x 3 input (Table 1: 1.36M).
  """
  return PlainCNN(**{'widths': (32, 32, 32, 32, 32), 'kernel_size': 3, 'dense': (135,), **overrides})


def vgg_jia2022(**overrides) -> PlainCNN:
  """VGG [11]: Jia, Chen & Xing, J. Seismol. 26(5), 2022 (Table 1: "11.37K" parameters).

  Table 1's 11.37K is very likely a typo for 11.37M: every VGG variant has
  millions of weights (VGG's pairs of 3-tap convolutions doubling in width up to
  hundreds of filters), and the same table lists ResNet and GoogLeNet from the
  same reference at 7.13M and 5.12M. Either reading is a guess; we implement the
  printed figure, because it is what Table 1 states and what readers will
  compare against: a small VGG-style network keeping VGG's defining traits
  (blocks of two 3-tap conv + BN + ReLU, max-pool 2 between blocks, widths
  roughly doubling: 6-12-24-40) with global average pooling and no hidden dense
  layer -- 11,492 parameters on a 10000 x 3 input. A VGG at the 11.37M reading is
  ``vgg_jia2022(widths=(64, 128, 256, 512, 512), flatten=True, dense=(...))``;
  its count depends mostly on the flattened dense layer, which the paper does
  not give.
  """
  return PlainCNN(**{'widths': (6, 12, 24, 40), 'kernel_size': 3, 'convs_per_block': 2, 'pool': 2,
                     'flatten': False, 'dense': (), **overrides})


def cnn_barama2023(**overrides) -> PlainCNN:
  """CNN [12]: Barama, Williams, Newman & Peng, 2023 (Table 1: 5.20M parameters).

  The reference discriminates explosions from earthquakes with a convolutional
  network over three-component waveforms ending in large fully connected
  layers. Assumed here: four blocks of conv(5 taps; 16, 32, 64, 128 filters) +
  BN + ReLU + max-pool 4 (10000 -> 40 samples), flatten, dense 1000, dropout
  0.5, classifier: 5,177,482 parameters on a 10000 x 3 input (Table 1: 5.20M).
  """
  return PlainCNN(**{'widths': (16, 32, 64, 128), 'kernel_size': 5, 'pool': 4, 'dense': (1000,),
                     **overrides})


def cnn_zhu2023(**overrides) -> PlainCNN:
  """CNN [13]: Zhu, Fang, Miao, Fan, Zhang & Li, GJI 236(2), 2023 (Table 1: 80.06K parameters).

  The reference's earthquake / quarry-blast network is a compact CNN meant for
  transfer learning between regions. Assumed here: five blocks of conv(7 taps;
  16, 32, 64, 64, 64 filters) + BN + ReLU + max-pool 4 (10000 -> 10 samples),
  global average pooling, dense 64, dropout 0.5, classifier: 80,370 parameters
  on a 10000 x 3 input.
  """
  return PlainCNN(**{'widths': (16, 32, 64, 64, 64), 'kernel_size': 7, 'pool': 4, 'flatten': False,
                     'dense': (64,), **overrides})
