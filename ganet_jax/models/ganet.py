"""GA-Net: ghost bottlenecks and CBAM in a 1-D network (paper Section II, Fig. 1 a).

The paper gives the layer types and their order but not the widths. The table
below is an assumption: one ghost bottleneck per GhostNet stage (Han et al.,
2020, Table 1) with GhostNet's kernel sizes, strides and widths for that stage,
all widths scaled by 1.8 (rounded to multiples of 4) and the head width set to
1792, so that the default network has Table 1's 1.57M trainable parameters
(1,575,317 counted by ``ganet_jax.models.model_parameter_count``). Five stride-2 stages take
the 10000-sample input to 313 samples at the head.

Column legend: k = kernel of the strided depthwise conv, mid = expansion width,
out = output width, s = stride.

  block  k  mid   out  s   GhostNet row it stands for (widths x 1.8)
  stem   3  -     16   2   conv 3 -> 16, BN, ReLU (16 filters: the paper)
  1      3  88    44   2   stage 2 (48, 24)
  2      5  128   72   2   stage 3 (72, 40)
  3      3  432   144  2   stage 4 (240, 80)
  4      3  864   200  1   stage 4 (480, 112)
  5      5  1208  288  2   stage 5 (672, 160)
  6-8    5  1728  288  1   stage 5 (960, 160); only with num_bottlenecks >= 6
  head   1x1 conv -> 1792, BN, ReLU; CBAM ("flatten"); global average pool;
         dropout; dense -> num_classes

Other assumptions, each a field: ghost ratio 2 and cheap-op size 3 (the paper's
"1x3"); CBAM reduction 16 and spatial kernel 7 (CBAM's defaults); the "flatten"
CBAM acts on the last feature map that still has a time axis (after the 1x1
conv, before pooling), because on a pooled length-1 map its spatial attention
would be a constant; dropout 0.2 before the classifier as in GhostNet; BatchNorm
with Keras' momentum 0.99 and epsilon 1e-3 (the paper used Keras).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from ganet_jax.models.network import Network
from ganet_jax.nn.layers import CBAM, Conv, GhostBottleneck, ModuleFactory, PointwiseConv

__all__ = ['BOTTLENECKS', 'BottleneckConfig', 'CBAM_POSITIONS', 'GANet', 'scaled_table']

CBAM_POSITIONS = frozenset({'input', 'bottleneck', 'flatten'})


@dataclasses.dataclass(frozen=True)
class BottleneckConfig:
  """One row of the GA-Net table."""
  kernel_size: int
  mid_features: int
  out_features: int
  strides: int


BOTTLENECKS: tuple[BottleneckConfig, ...] = (
    BottleneckConfig(3, 88, 44, 2),
    BottleneckConfig(5, 128, 72, 2),
    BottleneckConfig(3, 432, 144, 2),
    BottleneckConfig(3, 864, 200, 1),
    BottleneckConfig(5, 1208, 288, 2),
    BottleneckConfig(5, 1728, 288, 1),
    BottleneckConfig(5, 1728, 288, 1),
    BottleneckConfig(5, 1728, 288, 1),
)


def _scaled(features: int, width: float) -> int:
  return features if width == 1.0 else max(8, int(features * width / 4 + 0.5) * 4)  # nearest multiple of 4


def scaled_table(rows: Sequence[BottleneckConfig], width: float) -> tuple[BottleneckConfig, ...]:
  """The width table with its expansion and output widths times ``width``."""
  return tuple(dataclasses.replace(row, mid_features=_scaled(row.mid_features, width),
                                   out_features=_scaled(row.out_features, width)) for row in rows)


def _apply_block(block: nn.Module, x: jax.Array, train: bool) -> jax.Array:
  return block(x, train=train)


# train must be static: it selects batch statistics; remat would trace a keyword argument
_rematerialised = nn.remat(_apply_block, static_argnums=(2,))


class GANet(Network):
  """The ghost-attention network.

  Attributes:
    num_classes: outputs of the classifier (2: tectonic, non-tectonic).
    num_bottlenecks: how many rows of ``BOTTLENECKS`` to stack (Fig. 5 sweep, 1-8).
    cbam_positions: any subset of {"input", "bottleneck", "flatten"} (Table 3);
      empty is the "w/o CBAM" ablation.
    use_ghost: False is the "w/o GM" ablation (ordinary convolutions, same widths).
    stem_features: filters of the first standard convolution (16 in the paper).
    head_features: width of the 1x1 conv before pooling.
    ratio, dw_size: ghost module ratio and cheap-operation kernel size.
    reduction, attention_kernel: CBAM's MLP reduction and spatial kernel size.
    dropout_rate: dropout before the classifier (active only with train=True).
    bottlenecks: the width table; override to build other variants.
    width: multiplies every width of the table and the head (rounded to multiples
      of 4, at least 8), not the stem's 16 filters (the paper's); 1.0 is the paper's
      network, smaller values a narrower one for small data sets.
    act: the activation of every layer but the attention gates (ReLU).
    conv: factory of the ordinary convolutions, called with ``flax.linen.Conv``'s
      arguments: the stem's and, with ``use_ghost=False``, those standing in for the
      ghost modules. The depthwise convolutions, the 1x1 convolutions (ghost modules'
      primary convolutions, shortcuts, head; matrix products over channels) and CBAM's
      spatial convolution are the layers' own. ``ganet_jax.nn.Conv`` by default: flax's
      Conv computing the 3-channel stem as one matrix product.
    (``Network``'s): norm (``BatchNorm``, flax's with Keras' momentum 0.99 and epsilon
      1e-3, by default), dtype and param_dtype (``dtype=jnp.bfloat16``: bfloat16
      activations and logits, float32 parameters).
    remat: recompute each bottleneck's activations in the backward pass instead of
      keeping them (``jax.checkpoint``): less memory per training step, more time
      (benchmarks/README.md gives both); same parameters and outputs.
    depthwise_impl: formulation of every depthwise conv (``ganet_jax.nn.depthwise_conv1d``):
      'auto' (shifted slices on CPU, XLA's grouped convolution on GPU/TPU), 'slices'
      or 'grouped'; same parameters and outputs.
  """
  num_classes: int = 2
  num_bottlenecks: int = 5
  cbam_positions: Sequence[str] = ('bottleneck', 'flatten')
  use_ghost: bool = True
  stem_features: int = 16
  head_features: int = 1792
  ratio: int = 2
  dw_size: int = 3
  reduction: int = 16
  attention_kernel: int = 7
  dropout_rate: float = 0.2
  bottlenecks: Sequence[BottleneckConfig] = BOTTLENECKS
  width: float = 1.0
  act: Callable[[jax.Array], jax.Array] = nn.relu
  conv: ModuleFactory = Conv  # Network's field; nn.Conv would run the 3-channel stem on XLA's slow CPU path
  remat: bool = False
  depthwise_impl: str = 'auto'

  # The top-level parameter entries after ``features``: what a frozen pretrained encoder
  # leaves to train (``ExperimentConfig.freeze_encoder``). Not a field: it names the
  # architecture's parts, it does not configure them.
  HEAD = ('classifier',)

  def _check(self) -> None:
    unknown = set(self.cbam_positions) - CBAM_POSITIONS
    if unknown:
      raise ValueError(f'unknown cbam_positions {sorted(unknown)}; choose from {sorted(CBAM_POSITIONS)}')
    if not self.width > 0:
      raise ValueError(f'width must be > 0, got {self.width}')
    if not 1 <= self.num_bottlenecks <= len(self.bottlenecks):
      raise ValueError(f'num_bottlenecks must be in 1..{len(self.bottlenecks)}, got {self.num_bottlenecks}')

  def setup(self):
    # The head lives here so that ``features`` can be the compact method (a module has one).
    # Dropout keeps the name compact naming gave it: its key folds in the path, so a seed
    # draws the masks it drew before.
    self.head_dropout = nn.Dropout(self.dropout_rate, name='Dropout_0')
    self.classifier = nn.Dense(self.num_classes, dtype=self.dtype, param_dtype=self.param_dtype)

  def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
    """Logits for a batch of records.

    Args:
      x: (batch, time, channels) waveforms.
      train: batch statistics and dropout on (needs a 'dropout' rng and a mutable
        'batch_stats' collection).

    Returns:
      (batch, num_classes) logits.
    """
    x = self.features(x, train=train)
    return self.classifier(self.head_dropout(x, deterministic=not train))

  @nn.compact
  def features(self, x: jax.Array, *, train: bool = False) -> jax.Array:
    """The pooled features the classifier reads: everything up to the global average pool.

    ``model.apply(variables, x, method='features')`` returns them, to put another head on
    a trained network (``variables`` are the whole model's; the classifier's are unused).

    Args:
      x: (batch, time, channels) waveforms.
      train: as in ``__call__``.

    Returns:
      (batch, head width) features.
    """
    self._check()
    cbam = lambda name: CBAM(self.reduction, self.attention_kernel, act=self.act, dtype=self.dtype,
                             param_dtype=self.param_dtype, name=name)
    layers = self.layers(train=train)

    if 'input' in self.cbam_positions:
      x = cbam('cbam_input')(x)
    x = layers.conv(self.stem_features, (3,), strides=(2,), padding='SAME', use_bias=False,
                    kernel_init=nn.initializers.he_normal(), name='stem_conv')(x)
    x = self.act(layers.norm(x, name='stem_bn'))

    for i, row in enumerate(scaled_table(self.bottlenecks, self.width)[:self.num_bottlenecks]):
      block = GhostBottleneck(row.mid_features, row.out_features, strides=row.strides,
                              dw_kernel_size=row.kernel_size, ratio=self.ratio, dw_size=self.dw_size,
                              use_ghost=self.use_ghost, act=self.act, norm=self.norm, conv=self.conv,
                              dtype=self.dtype, param_dtype=self.param_dtype, depthwise_impl=self.depthwise_impl,
                              name=f'bottleneck_{i}')
      x = _rematerialised(block, x, train) if self.remat else block(x, train=train)
      if 'bottleneck' in self.cbam_positions:
        x = cbam(f'cbam_bottleneck_{i}')(x)

    head = PointwiseConv(_scaled(self.head_features, self.width), dtype=self.dtype, param_dtype=self.param_dtype,
                         name='head_conv')
    x = self.act(layers.norm(head(x), name='head_bn'))
    if 'flatten' in self.cbam_positions:
      x = cbam('cbam_flatten')(x)
    return jnp.mean(x, axis=-2)
