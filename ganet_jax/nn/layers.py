"""Building blocks of GA-Net as Flax Linen modules (paper Section II, Fig. 1 b-c).

Every module takes channels-last input ``(batch, time, channels)`` of any length
and channel count, and has the signature ``__call__(x, *, train)`` where it holds
batch statistics. Vocabulary follows GhostNet (Han et al., CVPR 2020) and CBAM
(Woo et al., ECCV 2018): ``ratio``, ``dw_size``, primary conv + cheap operation,
``reduction`` of the shared MLP.

As in ``flax.linen`` layers, ``dtype`` is the computation dtype (None: inferred from
the input and parameters) and ``param_dtype`` the parameters' dtype, so
``GhostModule(64, dtype=jnp.bfloat16)`` computes in bfloat16 on float32 parameters.
``act`` is the activation and ``norm`` a factory of normalization layers: by default
``BatchNorm``, flax's BatchNorm with the Keras constants the paper used. A module
calls ``norm(name=..., dtype=..., param_dtype=...)`` (a ``functools.partial`` that
binds ``dtype`` or ``param_dtype`` itself keeps them) and, when the layer it gets has
``use_running_average=None`` (BatchNorm left unbound), applies it with
``use_running_average=not train``; a partial with ``use_running_average`` bound, as
flax/examples build it, or a norm without batch statistics (``nn.LayerNorm``,
``nn.GroupNorm``) is applied as it is. ``conv``, in the modules with ordinary (not
depthwise, not 1x1) convolutions, is a factory called with ``flax.linen.Conv``'s
arguments: ``Conv``, flax's Conv computing few-channel convolutions as one matrix
product, by default, or ``nn.Conv``, or a partial or subclass of either. Keywords a
``norm`` or ``conv`` partial binds win over the module's (``keeping_bound``).
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax.linen.dtypes import promote_dtype

from ganet_jax.nn.batchnorm import BatchNorm
from ganet_jax.nn.conv1d import conv1d
from ganet_jax.nn.depthwise import depthwise_conv1d
from ganet_jax.nn.recompute import depends_on

__all__ = ['BatchNorm', 'CBAM', 'ChannelAttention', 'Conv', 'Conv1D', 'ConvModule', 'DepthwiseConv1D',
           'GhostBottleneck', 'GhostModule', 'PointwiseConv', 'SpatialAttention', 'apply_norm', 'keeping_bound']

Dtype = Any
ModuleFactory = Callable[..., nn.Module]


def _identity(x: jax.Array) -> jax.Array:
  return x


def keeping_bound(factory: ModuleFactory, **defaults: Any) -> ModuleFactory:
  """``factory`` called with ``defaults`` and the call's keywords, except those it binds itself (a ``functools.partial``).

  How a network's choices (dtypes, ``use_bias``, ``kernel_init``, ...) reach the layers it
  makes of a ``norm`` or ``conv`` factory while a partial's own keywords win:
  ``functools.partial(nn.Conv, use_bias=True, param_dtype=jnp.bfloat16)`` gives every
  convolution a bias and bfloat16 parameters in a network that asks for neither.

  Examples:
    >>> conv = keeping_bound(functools.partial(nn.Conv, use_bias=True), dtype=jnp.bfloat16)
    >>> layer = conv(8, (3,), use_bias=False)
    >>> layer.use_bias, layer.dtype == jnp.bfloat16
    (True, True)
  """
  bound = factory.keywords if isinstance(factory, functools.partial) else {}

  def make(*args: Any, **keywords: Any) -> nn.Module:
    return factory(*args, **{key: value for key, value in {**defaults, **keywords}.items() if key not in bound})
  return make


def apply_norm(norm: ModuleFactory, x: jax.Array, *, train: bool, name: str | None = None,
               dtype: Dtype | None = None, param_dtype: Dtype = jnp.float32) -> jax.Array:
  """``x`` through a new layer of ``norm``, inside a compact method (how ``train`` and dtypes reach it: module docstring).

  Args:
    norm: a factory of normalization layers, e.g. ``BatchNorm`` or ``nn.LayerNorm``.
    x: the input.
    train: batch statistics on (for a BatchNorm whose ``use_running_average`` is unbound).
    name: the layer's name (None: flax's automatic name).
    dtype, param_dtype: the layer's, unless ``norm`` binds them.

  Returns:
    The normalized ``x``.
  """
  layer = keeping_bound(norm, dtype=dtype, param_dtype=param_dtype)(name=name)
  if getattr(layer, 'use_running_average', False) is None:
    return layer(x, use_running_average=not train)
  return layer(x)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def max_pool(x: jax.Array, axis: int) -> jax.Array:
  """``jnp.max(x, axis, keepdims=True)`` whose backward pass keeps ``x`` and the maximum, not an input-sized mask.

  Autodiff keeps ``x == max`` as a float array from the forward pass to the backward
  pass (for CBAM, one per pooling: an input-sized copy of every attended map); the
  attention keeps ``x`` anyway, so the mask is recomputed after the cotangent
  (``ganet_jax.nn.recompute.depends_on``). Same gradient as autodiff: ties share it equally.
  """
  return jnp.max(x, axis=axis, keepdims=True)


def _max_pool_forward(x: jax.Array, axis: int):
  out = jnp.max(x, axis=axis, keepdims=True)
  return out, (x, out)


def _max_pool_backward(axis: int, residuals, grad: jax.Array):
  x, out = residuals
  at_max = (depends_on(x, grad) == out).astype(grad.dtype)
  return (at_max * (grad / jnp.sum(at_max, axis=axis, keepdims=True)),)


max_pool.defvjp(_max_pool_forward, _max_pool_backward)


class PointwiseConv(nn.Module):
  """1x1 convolution as a matrix product over channels (no grouped-conv path)."""
  features: int
  use_bias: bool = False
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    dense = nn.Dense(self.features, use_bias=self.use_bias, kernel_init=nn.initializers.he_normal(),
                     dtype=self.dtype, param_dtype=self.param_dtype)
    # Flattening (batch, time) makes the weight gradient a plain 2-D x^T g product; with
    # two contracted axes XLA's CPU backend first transposes g in memory (measured in
    # benchmarks/README.md, "What the library's CPU formulations rest on").
    return dense(x.reshape(-1, x.shape[-1])).reshape(*x.shape[:-1], self.features)


class Conv(nn.Conv):
  """``flax.linen.Conv`` (same fields, parameters, names) computing a few-channel 1-D convolution as a matrix product.

  XLA's CPU backend runs a convolution with a handful of input channels through a
  generic path whose backward pass is over ten times its forward (``ganet_jax.nn.conv1d``).
  A 1-D 'SAME' convolution without dilation, groups, mask or precision whose kernel
  holds at most ``im2col_max`` taps x input channels (GA-Net's stem, 3 taps over 3
  channels, holds 9) is computed by ``ganet_jax.nn.conv1d`` instead; any other runs
  flax's own code. The parameters are the same either way; outputs agree up to float
  rounding.

  Attributes:
    (``flax.linen.Conv``'s): features, kernel_size, strides, padding, use_bias, kernel_init, ...
    im2col_max: the largest ``kernel_size * in_channels`` computed as a matrix product
      (None: no limit); the stacked input is ``kernel_size`` times the input's size.
      16 takes GA-Net's stem (9) and leaves its ordinary convolutions of 8 or more
      channels (24 or more) to XLA.

  Examples:
    >>> import jax, jax.numpy as jnp
    >>> x = jax.random.normal(jax.random.key(1), (2, 16, 3))
    >>> conv = Conv(8, (3,), strides=(2,))  # 3 taps x 3 channels: one matrix product
    >>> variables = conv.init(jax.random.key(0), x)
    >>> jax.tree.map(jnp.shape, variables['params'])  # flax's names and shapes
    {'bias': (8,), 'kernel': (3, 3, 8)}
    >>> y = conv.apply(variables, x)
    >>> y.shape, bool(jnp.allclose(y, nn.Conv(8, (3,), strides=(2,)).apply(variables, x), atol=1e-5))
    ((2, 8, 8), True)
  """
  im2col_max: int | None = 16

  @nn.compact
  def __call__(self, inputs: jax.Array) -> jax.Array:
    taps = _one(self.kernel_size)
    if taps is None or not self._by_matrix_product(taps, inputs.shape[-1]):
      return super().__call__(inputs)
    features_in = inputs.shape[-1]
    kernel = self.param('kernel', self.kernel_init, (taps, features_in, self.features), self.param_dtype)
    bias = self.param('bias', self.bias_init, (self.features,), self.param_dtype) if self.use_bias else None
    inputs, kernel, bias = self.promote_dtype(inputs, kernel, bias, dtype=self.dtype)
    y = conv1d(inputs, kernel, stride=_one(self.strides))
    return y if bias is None else y + bias

  def _by_matrix_product(self, taps: int, features_in: int) -> bool:
    plain = (self.padding == 'SAME' and _one(self.strides) is not None and self.feature_group_count == 1
             and _one(self.input_dilation) == 1 and _one(self.kernel_dilation) == 1 and self.mask is None
             and self.precision is None and self.conv_general_dilated is None
             and self.conv_general_dilated_cls is None)
    return plain and (self.im2col_max is None or taps * features_in <= self.im2col_max)


def _one(value: int | Sequence[int] | None) -> int | None:
  """A 1-D layer's size argument as one int (None, flax's 'unset', is 1); None when it is not 1-D."""
  if value is None:
    return 1
  if isinstance(value, int):
    return value
  return value[0] if len(value) == 1 else None


class Conv1D(Conv):
  """A 1-D 'SAME' convolution always computed by ``ganet_jax.nn.conv1d`` (im2col); no bias by default.

  ``Conv`` without the size limit, for layers whose input has few channels by
  construction (CBAM's spatial attention: the channel mean and max). Holds the same
  ``kernel`` (kernel_size, in_channels, features) as ``nn.Conv``.
  """
  use_bias: bool = False
  im2col_max: int | None = None


class DepthwiseConv1D(nn.Module):
  """Depthwise conv, 'SAME' padding; output channels = input channels x multiplier.

  ``impl`` picks the formulation (``ganet_jax.nn.depthwise_conv1d``): 'auto' is shifted
  slices on CPU and XLA's grouped convolution on GPU/TPU; the parameters are the same.
  """
  kernel_size: int = 3
  strides: int = 1
  multiplier: int = 1
  use_bias: bool = False
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32
  impl: str = 'auto'

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    channels = x.shape[-1]
    # fan-in of a depthwise filter is its kernel size.
    kernel = self.param('kernel', nn.initializers.variance_scaling(2.0, 'fan_in', 'normal', in_axis=0, out_axis=(1, 2)),
                        (self.kernel_size, channels, self.multiplier), self.param_dtype)
    x, kernel = promote_dtype(x, kernel, dtype=self.dtype)
    y = depthwise_conv1d(x, kernel, stride=self.strides, impl=self.impl)
    if self.use_bias:
      y = y + self.param('bias', nn.initializers.zeros, (channels * self.multiplier,), self.param_dtype).astype(y.dtype)
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
    use_act: apply ``act`` after each part (off for a bottleneck's projection module).
    act: the activation (ReLU in the paper).
    norm: factory of the normalization after each convolution (module docstring).
    dtype, param_dtype: computation and parameter dtypes, as in ``flax.linen``.
    depthwise_impl: the cheap operation's formulation (``DepthwiseConv1D.impl``).

  Examples:
    >>> import jax, jax.numpy as jnp
    >>> x = jnp.ones((2, 16, 4))
    >>> module = GhostModule(features=6)  # 3 intrinsic maps, 3 ghost maps
    >>> variables = jax.eval_shape(module.init, jax.random.key(0), x)
    >>> params = variables['params']
    >>> params['primary_conv']['Dense_0']['kernel'].shape, params['cheap_conv']['kernel'].shape
    ((4, 3), (3, 3, 1))
    >>> jax.eval_shape(module.apply, variables, x).shape
    (2, 16, 6)
  """
  features: int
  ratio: int = 2
  dw_size: int = 3
  use_act: bool = True
  act: Callable[[jax.Array], jax.Array] = nn.relu
  norm: ModuleFactory = BatchNorm
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32
  depthwise_impl: str = 'auto'

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
    """The ghost feature maps of ``x``.

    Args:
      x: (batch, time, channels) input, any length and channel count.
      train: normalise with the batch's statistics and update the running ones
        (apply with ``mutable=['batch_stats']``); False uses the running statistics.
        With a ``norm`` that has no batch statistics it changes nothing.

    Returns:
      (batch, time, features) maps: the primary convolution's, then the ghost maps.

    No rng is needed: the module holds no dropout or other randomness (``init`` takes
    the parameter key as for any Linen module).
    """
    if self.ratio < 2:
      raise ValueError(f'GhostModule ratio must be >= 2, got {self.ratio}')
    activation = self.act if self.use_act else _identity
    norm = functools.partial(apply_norm, self.norm, train=train, dtype=self.dtype, param_dtype=self.param_dtype)
    intrinsic_channels = math.ceil(self.features / self.ratio)
    intrinsic = PointwiseConv(intrinsic_channels, dtype=self.dtype, param_dtype=self.param_dtype,
                              name='primary_conv')(x)
    intrinsic = activation(norm(intrinsic, name='primary_bn'))
    ghost = DepthwiseConv1D(self.dw_size, multiplier=self.ratio - 1, dtype=self.dtype, param_dtype=self.param_dtype,
                            impl=self.depthwise_impl, name='cheap_conv')(intrinsic)
    ghost = activation(norm(ghost, name='cheap_bn'))
    return jnp.concatenate([intrinsic, ghost], axis=-1)[..., :self.features]


class ConvModule(nn.Module):
  """An ordinary conv + norm (+ act) of the same output width: the "w/o GM" ablation's stand-in.

  Attributes as ``GhostModule``'s; ``kernel_size`` is the convolution's, and ``conv`` the
  factory that makes it, called with ``flax.linen.Conv``'s arguments (``Conv`` by default).
  """
  features: int
  kernel_size: int = 3
  use_act: bool = True
  act: Callable[[jax.Array], jax.Array] = nn.relu
  norm: ModuleFactory = BatchNorm
  conv: ModuleFactory = Conv
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
    conv = keeping_bound(self.conv, dtype=self.dtype, param_dtype=self.param_dtype)
    y = conv(self.features, (self.kernel_size,), padding='SAME', use_bias=False,
             kernel_init=nn.initializers.he_normal())(x)
    y = apply_norm(self.norm, y, train=train, name=None, dtype=self.dtype, param_dtype=self.param_dtype)
    return self.act(y) if self.use_act else y


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
    act, norm, dtype, param_dtype: as in ``GhostModule``, for every layer of the block.
    conv: factory of those ordinary convolutions (``ConvModule``); the depthwise and 1x1
      convolutions are the block's own (``DepthwiseConv1D``, ``PointwiseConv``).
    depthwise_impl: formulation of every depthwise conv of the block (``DepthwiseConv1D.impl``).

  Examples:
    >>> import jax, jax.numpy as jnp
    >>> x = jnp.ones((2, 16, 4))
    >>> block = GhostBottleneck(mid_features=8, out_features=4, strides=2)
    >>> variables = jax.eval_shape(block.init, jax.random.key(0), x)
    >>> jax.eval_shape(block.apply, variables, x).shape  # stride 2 halves the time axis
    (2, 8, 4)
  """
  mid_features: int
  out_features: int
  strides: int = 1
  dw_kernel_size: int = 3
  ratio: int = 2
  dw_size: int = 3
  use_ghost: bool = True
  act: Callable[[jax.Array], jax.Array] = nn.relu
  norm: ModuleFactory = BatchNorm
  conv: ModuleFactory = Conv
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32
  depthwise_impl: str = 'auto'

  def _feature_module(self, features: int, use_act: bool, name: str) -> nn.Module:
    shared = dict(use_act=use_act, act=self.act, norm=self.norm, dtype=self.dtype, param_dtype=self.param_dtype,
                  name=name)
    if self.use_ghost:
      return GhostModule(features, ratio=self.ratio, dw_size=self.dw_size, depthwise_impl=self.depthwise_impl, **shared)
    return ConvModule(features, kernel_size=self.dw_size, conv=self.conv, **shared)

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
    """The block's output: both modules' path plus the shortcut.

    Args:
      x: (batch, time, channels) input. The shortcut is ``x`` itself when
        ``strides == 1`` and ``channels == out_features``, else a strided depthwise
        and a 1x1 convolution.
      train: every BatchNorm of the block uses and updates batch statistics (apply
        with ``mutable=['batch_stats']``); False uses the running statistics.

    Returns:
      (batch, ceil(time / strides), out_features).

    No rng is needed: the block holds no dropout.
    """
    norm = functools.partial(apply_norm, self.norm, train=train, dtype=self.dtype, param_dtype=self.param_dtype)
    depthwise = functools.partial(DepthwiseConv1D, self.dw_kernel_size, self.strides, dtype=self.dtype,
                                  param_dtype=self.param_dtype, impl=self.depthwise_impl)
    y = self._feature_module(self.mid_features, True, 'ghost1')(x, train=train)
    if self.strides > 1:
      y = norm(depthwise(name='dw_conv')(y), name='dw_bn')
    y = self._feature_module(self.out_features, False, 'ghost2')(y, train=train)

    if self.strides == 1 and x.shape[-1] == self.out_features:
      shortcut = x
    else:
      shortcut = norm(depthwise(name='shortcut_dw')(x), name='shortcut_dw_bn')
      shortcut = PointwiseConv(self.out_features, dtype=self.dtype, param_dtype=self.param_dtype,
                               name='shortcut_pw')(shortcut)
      shortcut = norm(shortcut, name='shortcut_pw_bn')
    return y + shortcut


class ChannelAttention(nn.Module):
  """CBAM channel attention (eq. 4): x * sigmoid(MLP(avgpool x) + MLP(maxpool x)).

  Attributes:
    reduction: the shared MLP's hidden width is ``max(channels // reduction, 1)``.
    act: the MLP's hidden activation (ReLU in CBAM).
    dtype, param_dtype: computation and parameter dtypes, as in ``flax.linen``.

  Examples:
    >>> import jax, jax.numpy as jnp
    >>> x = jnp.ones((2, 16, 4))
    >>> variables = jax.eval_shape(ChannelAttention(reduction=2).init, jax.random.key(0), x)
    >>> jax.tree.map(lambda leaf: leaf.shape, variables['params'])  # the shared MLP: 4 -> 2 -> 4
    {'w0': {'bias': (2,), 'kernel': (4, 2)}, 'w1': {'bias': (4,), 'kernel': (2, 4)}}
  """
  reduction: int = 16
  act: Callable[[jax.Array], jax.Array] = nn.relu
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    channels = x.shape[-1]
    hidden = max(channels // self.reduction, 1)
    dense = functools.partial(nn.Dense, dtype=self.dtype, param_dtype=self.param_dtype)
    shared_mlp = nn.Sequential([dense(hidden, name='w0'), self.act, dense(channels, name='w1')])
    avg = jnp.mean(x, axis=-2, keepdims=True)
    mx = max_pool(x, -2)
    return x * nn.sigmoid(shared_mlp(avg) + shared_mlp(mx))


class SpatialAttention(nn.Module):
  """CBAM spatial attention (eq. 5): x * sigmoid(conv_k([mean_c x; max_c x])).

  The weights sigmoid(...), (batch, time), are sown as ``intermediates/spatial_attention``:
  ``apply(..., mutable=['intermediates'])`` returns them (``ganet_jax.evaluation.attention``);
  any other apply ignores them.

  Attributes:
    kernel_size: the convolution's kernel (7 in CBAM).
    dtype, param_dtype: computation and parameter dtypes, as in ``flax.linen``.

  Examples:
    >>> import jax, jax.numpy as jnp
    >>> x = jnp.ones((2, 16, 4))
    >>> variables = jax.eval_shape(SpatialAttention().init, jax.random.key(0), x)
    >>> variables['params']['conv']['kernel'].shape  # 7 taps over [mean; max] of the channels
    (7, 2, 1)
  """
  kernel_size: int = 7
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    pooled = jnp.concatenate([jnp.mean(x, axis=-1, keepdims=True),
                              max_pool(x, -1)], axis=-1)
    # two input channels: XLA's generic conv path is slow for so few (benchmarks/README.md, "What the library's CPU formulations rest on")
    conv = Conv1D(1, self.kernel_size, dtype=self.dtype, param_dtype=self.param_dtype, name='conv')
    weights = nn.sigmoid(conv(pooled))
    self.sow('intermediates', 'spatial_attention', weights[..., 0])
    return x * weights


class CBAM(nn.Module):
  """Convolutional block attention module: channel attention, then spatial attention (Fig. 1 c).

  Attributes:
    reduction, act: the channel attention's (``ChannelAttention``).
    kernel_size: the spatial attention's (``SpatialAttention``).
    dtype, param_dtype: computation and parameter dtypes, as in ``flax.linen``.

  Examples:
    >>> import jax, jax.numpy as jnp
    >>> x = jax.random.normal(jax.random.key(1), (2, 16, 4))
    >>> cbam = CBAM(reduction=2)
    >>> variables = cbam.init(jax.random.key(0), x)
    >>> y, state = cbam.apply(variables, x, mutable=['intermediates'])
    >>> weights = state['intermediates']['spatial']['spatial_attention'][0]
    >>> y.shape, weights.shape, bool((weights > 0).all() and (weights < 1).all())
    ((2, 16, 4), (2, 16), True)
  """
  reduction: int = 16
  kernel_size: int = 7
  act: Callable[[jax.Array], jax.Array] = nn.relu
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """``x`` gated by channel attention, then by spatial attention.

    Args:
      x: (batch, time, channels) feature maps.

    Returns:
      The same shape. CBAM has no ``train`` flag (it holds no batch statistics) and
      needs no rng; its spatial weights are sown as ``intermediates/spatial_attention``
      (``apply(..., mutable=['intermediates'])`` returns them).
    """
    x = ChannelAttention(self.reduction, self.act, dtype=self.dtype, param_dtype=self.param_dtype, name='channel')(x)
    return SpatialAttention(self.kernel_size, dtype=self.dtype, param_dtype=self.param_dtype, name='spatial')(x)
