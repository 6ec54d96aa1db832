import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import normal
from ganet_jax.nn import depthwise
from ganet_jax.nn.depthwise import resolve_impl, same_padding
from ganet_jax.nn.recompute import depends_on

# jitted, as the layers run them: eagerly each tap's slice, product and sum compiles on its own
depthwise_conv1d = jax.jit(depthwise.depthwise_conv1d, static_argnames=('stride', 'impl'))
grouped_depthwise_conv1d = jax.jit(depthwise.grouped_depthwise_conv1d, static_argnames='stride')


def _normal(seed, *shapes):
  """Standard normal float32 arrays of ``shapes``, the i-th drawn from ``seed + i``."""
  return [normal(shape, seed=seed + i) for i, shape in enumerate(shapes)]


@pytest.mark.parametrize('stride', [1, 2, 3])
@pytest.mark.parametrize('kernel_size', [1, 3, 5, 7])
@pytest.mark.parametrize('length', [16, 17])
def test_matches_grouped_convolution(stride, kernel_size, length):
  x, kernel = _normal(kernel_size * 10 + stride, (2, length, 6), (kernel_size, 6))
  np.testing.assert_allclose(depthwise_conv1d(x, kernel, stride=stride),
                             grouped_depthwise_conv1d(x, kernel, stride=stride), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('stride', [1, 2])
def test_channel_multiplier_matches_grouped_convolution(stride):
  x, kernel = _normal(3, (3, 21, 4), (3, 4, 3))
  out = depthwise_conv1d(x, kernel, stride=stride)
  assert out.shape == (3, -(-21 // stride), 12)
  np.testing.assert_allclose(out, grouped_depthwise_conv1d(x, kernel, stride=stride), rtol=1e-5, atol=1e-5)


def test_gradients_match_grouped_convolution():
  x, kernel = _normal(4, (2, 30, 5), (5, 5))
  loss = lambda f: lambda x, w: jnp.sum(jnp.sin(f(x, w, stride=2)))
  grads = jax.jit(jax.grad(loss(depthwise.depthwise_conv1d), argnums=(0, 1)))(x, kernel)
  expected = jax.jit(jax.grad(loss(depthwise.grouped_depthwise_conv1d), argnums=(0, 1)))(x, kernel)
  for got, want in zip(grads, expected):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_same_padding_follows_xla():
  assert same_padding(10, 3, 1) == (1, 1)
  assert same_padding(10, 3, 2) == (0, 1)
  assert same_padding(11, 5, 2) == (2, 2)


def test_channel_mismatch_is_named():
  with pytest.raises(ValueError, match='3 channels, input has 4'):
    depthwise_conv1d(jnp.zeros((1, 8, 4)), jnp.zeros((3, 3)))


@pytest.mark.parametrize('stride', [1, 2])
@pytest.mark.parametrize('kernel_shape', [(3, 4), (5, 4), (3, 4, 2)])
def test_slices_and_grouped_give_the_same_values_and_gradients(stride, kernel_shape):
  x, kernel = _normal(len(kernel_shape) * 10 + kernel_shape[0] + stride, (2, 3, 13, 4), kernel_shape)  # 2 leading axes
  loss = lambda impl: lambda x, w: jnp.sum(jnp.sin(depthwise.depthwise_conv1d(x, w, stride=stride, impl=impl)))
  values = {impl: depthwise_conv1d(x, kernel, stride=stride, impl=impl) for impl in ('slices', 'grouped')}
  assert values['slices'].shape == (2, 3, -(-13 // stride), 4 * (kernel_shape[2] if len(kernel_shape) == 3 else 1))
  np.testing.assert_allclose(values['slices'], values['grouped'], rtol=1e-5, atol=1e-5)
  grads = {impl: jax.jit(jax.grad(loss(impl), argnums=(0, 1)))(x, kernel) for impl in ('slices', 'grouped')}
  for got, want in zip(grads['slices'], grads['grouped']):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_auto_is_slices_on_cpu_and_unknown_impl_is_named():
  assert resolve_impl('auto') == 'slices'  # the suite runs on CPU
  assert resolve_impl('grouped') == 'grouped'
  with pytest.raises(ValueError, match="one of .*'auto'.*got 'fft'"):
    depthwise_conv1d(jnp.zeros((1, 8, 3)), jnp.zeros((3, 3)), impl='fft')


# every kernel at every stride; both length parities only where a stride has phases
LOW_MEMORY_CASES = [(stride, kernel_shape, length) for stride in (1, 2, 3)
                    for kernel_shape in [(1, 4), (3, 4), (4, 4), (5, 4, 2), (7, 4)]
                    for length in ((16,) if stride == 1 else (16, 17))]


@pytest.mark.parametrize('stride,kernel_shape,length', LOW_MEMORY_CASES)
def test_low_memory_gradient_matches_autodiff(stride, kernel_shape, length):
  # the hand-written VJP against autodiff of the same shifted slices, with two leading axes
  multiplier = kernel_shape[2] if len(kernel_shape) == 3 else 1
  x, kernel3, probe = _normal(kernel_shape[0] * 100 + stride * 10 + length, (2, 3, length, 4),
                              (*kernel_shape[:2], multiplier), (2, 3, -(-length // stride), 4, multiplier))
  loss = lambda f: lambda x, w: jnp.sum(jnp.sin(f(x, w, stride)) * probe)
  got = jax.jit(jax.grad(loss(depthwise._slices_conv_low_memory), argnums=(0, 1)))(x, kernel3)
  want = jax.jit(jax.grad(loss(depthwise._slices_conv), argnums=(0, 1)))(x, kernel3)
  for g, w in zip(got, want):
    np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


def _temporaries(conv, x, kernels):
  # compiled (not run) temporaries of the gradient through a stack of stride-2 convolutions
  def loss(x, kernels):
    for kernel in kernels:
      x = jnp.tanh(conv(x, kernel, 2)[..., 0])
    return jnp.sum(x)
  return jax.jit(jax.grad(loss, argnums=(0, 1))).lower(x, kernels).compile().memory_analysis().temp_size_in_bytes


def test_low_memory_gradient_keeps_no_windows():
  x = jax.ShapeDtypeStruct((4, 4096, 32), jnp.float32)
  kernels = [jax.ShapeDtypeStruct((5, 32, 1), jnp.float32)] * 3
  autodiff = _temporaries(depthwise._slices_conv, x, kernels)
  low = _temporaries(depthwise._slices_conv_low_memory, x, kernels)
  # autodiff holds each layer's 5 half-length windows, 2.5 inputs' worth; the VJP one input
  assert low < 0.75 * autodiff, (low, autodiff)


def test_depends_on_returns_its_input_exactly():
  x = jnp.array([1.5, -0.0, 0.0, 3e38])
  for first in (2.0, -0.0, jnp.inf, jnp.nan, -1e-30):
    out = depends_on(x, jnp.array([first, 1.0]))
    np.testing.assert_array_equal(out, x)
    assert np.array_equal(np.signbit(out), np.signbit(x))
