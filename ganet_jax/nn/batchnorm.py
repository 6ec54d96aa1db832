"""flax's BatchNorm with Keras' constants and a training-mode backward pass that keeps only the layer's input.

``BatchNorm`` is the library's one batch normalization: ``flax.linen.BatchNorm`` with the
defaults of Keras, the paper's framework (momentum 0.99, epsilon 1e-3; flax's epsilon is
1e-5), every field still settable.

Autodiff of ``flax.linen.BatchNorm`` keeps two input-sized arrays per layer for the
backward pass: the input (the variance's derivative reads it) and the centred
input ``x - mean``. GA-Net has 27 BatchNorms on its largest maps, so those centred
copies are a large share of a training step's memory (benchmarks/README.md,
memory). Here the backward pass keeps the input and the per-channel mean and
variance and recomputes the normalised input from them, after the cotangent
(``ganet_jax.nn.recompute.depends_on``), with the textbook gradient

  dx = scale * rsqrt(var + eps) * (dy - mean(dy) - x_hat * mean(dy * x_hat)).

The forward pass is flax's, operation for operation (same variables, same outputs
and running statistics); gradients equal autodiff's up to float32 rounding
(``tests/test_ganet_options.py``). Only the common case takes this path: training
mode, float32 input and parameters, scale and bias, flax's fast variance, no
mask and no ``axis_name``; anything else is flax's own code.
"""

from __future__ import annotations

import functools
import math

import flax.linen as nn
from flax.linen import normalization
import jax
import jax.numpy as jnp

from ganet_jax.nn.recompute import depends_on


class BatchNorm(nn.BatchNorm):
  """``flax.linen.BatchNorm`` (same fields, variables and values) with the lighter backward pass above.

  Defaults are Keras' (``momentum`` 0.99, ``epsilon`` 1e-3); the other fields are flax's.
  The class keeps flax's name, so that automatic layer names (``BatchNorm_0``) and
  checkpoints are those of ``nn.BatchNorm``.
  """
  momentum: float = 0.99
  epsilon: float = 1e-3

  @nn.compact
  def __call__(self, x, use_running_average: bool | None = None, *, mask: jax.Array | None = None):
    use_running_average = nn.merge_param('use_running_average', self.use_running_average, use_running_average)
    feature_axes = normalization._canonicalize_axes(x.ndim, self.axis)
    reduction_axes = tuple(i for i in range(x.ndim) if i not in feature_axes)
    feature_shape = [x.shape[ax] for ax in feature_axes]
    stats_dtype = jnp.float32 if self.force_float32_reductions else self.param_dtype
    ra_mean = self.variable('batch_stats', 'mean', lambda s: jnp.zeros(s, stats_dtype), feature_shape)
    ra_var = self.variable('batch_stats', 'var', lambda s: jnp.ones(s, stats_dtype), feature_shape)

    if use_running_average or not self._light_backward_applies(x, mask):
      if use_running_average:
        mean, var = ra_mean.value, ra_var.value
        if not self.force_float32_reductions:
          mean, var = jnp.asarray(mean, self.param_dtype), jnp.asarray(var, self.param_dtype)
      else:
        mean, var = normalization._compute_stats(
            x, reduction_axes, dtype=self.dtype,
            axis_name=self.axis_name if not self.is_initializing() else None,
            axis_index_groups=self.axis_index_groups, use_fast_variance=self.use_fast_variance, mask=mask,
            force_float32_reductions=self.force_float32_reductions)
        self._update_running_stats(ra_mean, ra_var, mean, var)
      return normalization._normalize(
          self, x, mean, var, reduction_axes, feature_axes, self.dtype, self.param_dtype, self.epsilon,
          self.use_bias, self.use_scale, self.bias_init, self.scale_init, self.force_float32_reductions)

    # parameters created as flax's _normalize creates them: scale, then bias
    scale = self.param('scale', self.scale_init, feature_shape, self.param_dtype)
    bias = self.param('bias', self.bias_init, feature_shape, self.param_dtype)
    y, mean, var = train_batch_norm(x, scale, bias, reduction_axes, self.epsilon)
    self._update_running_stats(ra_mean, ra_var, mean, var)
    return y

  def _light_backward_applies(self, x: jax.Array, mask: jax.Array | None) -> bool:
    float32 = jnp.dtype(jnp.float32)
    return (mask is None and self.axis_name is None and self.use_scale and self.use_bias
            and self.use_fast_variance and self.force_float32_reductions and x.dtype == float32
            and jnp.dtype(self.param_dtype) == float32 and (self.dtype is None or jnp.dtype(self.dtype) == float32))

  def _update_running_stats(self, ra_mean, ra_var, mean: jax.Array, var: jax.Array) -> None:
    if not self.is_initializing():
      ra_mean.value = self.momentum * ra_mean.value + (1 - self.momentum) * mean
      ra_var.value = self.momentum * ra_var.value + (1 - self.momentum) * var


def _broadcast(stat: jax.Array, axes: tuple[int, ...]) -> jax.Array:
  return jnp.expand_dims(stat, axes)


def _train_values(x, scale, bias, axes, epsilon):
  # flax's _compute_stats (fast variance) and _normalize, in the same order of operations
  mean = x.mean(axes)
  mean2 = jax.lax.square(x).mean(axes)
  var = jnp.maximum(0.0, mean2 - jax.lax.square(mean))
  y = x - _broadcast(mean, axes)
  mul = jax.lax.rsqrt(_broadcast(var, axes) + epsilon)
  mul *= _broadcast(scale, axes)
  y *= mul
  y += _broadcast(bias, axes)
  return y, mean, var


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def train_batch_norm(x: jax.Array, scale: jax.Array, bias: jax.Array, axes: tuple[int, ...],
                     epsilon: float) -> tuple[jax.Array, jax.Array, jax.Array]:
  """Training-mode batch normalization: (output, batch mean, batch variance) over ``axes``.

  ``scale`` and ``bias`` have the shape of the remaining (feature) axes. The backward
  pass keeps ``x`` and the statistics, not the centred input (module docstring).
  """
  return _train_values(x, scale, bias, axes, epsilon)


def _train_forward(x, scale, bias, axes, epsilon):
  y, mean, var = _train_values(x, scale, bias, axes, epsilon)
  return (y, mean, var), (x, scale, mean, var)


def _train_backward(axes, epsilon, residuals, cotangents):
  x, scale, mean, var = residuals
  dy, dmean, dvar = cotangents
  count = math.prod(x.shape[a] for a in axes)
  centred = depends_on(x, dy) - _broadcast(mean, axes)
  inv = jax.lax.rsqrt(var + epsilon)
  x_hat = centred * _broadcast(inv, axes)
  dbias = jnp.sum(dy, axes)
  dscale = jnp.sum(dy * x_hat, axes)
  dx = _broadcast(scale * inv, axes) * (dy - _broadcast(dbias / count, axes) - x_hat * _broadcast(dscale / count, axes))
  # the statistics are outputs too (the running averages read them): their own derivatives
  dx = dx + _broadcast(dmean / count, axes) + centred * _broadcast(2 * dvar / count, axes)
  return dx, dscale, dbias


train_batch_norm.defvjp(_train_forward, _train_backward)
