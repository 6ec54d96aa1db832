import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import normal
from ganet_jax.nn.conv1d import conv1d
from ganet_jax.nn.layers import Conv, Conv1D


def _reference(x, kernel, stride):
  return jax.lax.conv_general_dilated(x, kernel, (stride,), 'SAME', dimension_numbers=('NWC', 'WIO', 'NWC'))


# jitted: one compile per shape; eagerly every operation compiles on its own
_jit_conv1d = jax.jit(conv1d, static_argnames='stride')
_jit_reference = jax.jit(_reference, static_argnums=2)


@pytest.mark.parametrize('stride', [1, 2, 3])
@pytest.mark.parametrize('kernel_size,in_channels,out_channels', [(3, 3, 16), (7, 2, 1), (1, 4, 5)])
def test_matches_xla_convolution(stride, kernel_size, in_channels, out_channels):
  x = normal((2, 23, in_channels), seed=kernel_size + stride)
  kernel = normal((kernel_size, in_channels, out_channels), seed=100 + kernel_size + stride)
  np.testing.assert_allclose(_jit_conv1d(x, kernel, stride=stride), _jit_reference(x, kernel, stride),
                             rtol=1e-5, atol=1e-5)


def test_gradients_match_xla_convolution():
  kx, kw = jax.random.split(jax.random.key(0))
  x = normal((2, 30, 3))
  kernel = normal((3, 3, 4), seed=1)
  loss = lambda f: lambda x, w: jnp.sum(jnp.sin(f(x, w, 2)))
  grads = jax.jit(jax.grad(loss(lambda x, w, s: conv1d(x, w, stride=s)), argnums=(0, 1)))(x, kernel)
  expected = jax.jit(jax.grad(loss(_reference), argnums=(0, 1)))(x, kernel)
  for got, want in zip(grads, expected):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_channel_mismatch_is_named():
  with pytest.raises(ValueError, match='3 input channels, input has 4'):
    conv1d(jnp.zeros((1, 8, 4)), jnp.zeros((3, 3, 2)))


def _primitives(module, x):
  variables = jax.eval_shape(module.init, jax.random.key(0), x)
  return {eqn.primitive.name for eqn in jax.make_jaxpr(module.apply)(variables, x).eqns}


@pytest.mark.parametrize('module,channels,by_matrix_product', [
    (Conv(4, (3,), strides=(2,)), 3, True),                     # 3 taps x 3 channels: the stem's case
    (Conv(4, 3, im2col_max=9), 4, False),                       # 12 > 9
    (Conv(4, (3,), im2col_max=None), 64, True),                 # no limit
    (Conv(4, (3,), padding='VALID'), 3, False),                 # only 'SAME' is conv1d's
    (Conv(4, (3,), kernel_dilation=2), 3, False),
    (Conv(6, (3,), feature_group_count=3), 3, False),
    (Conv(4, (3, 3)), 3, False),                                # 2-D: flax's
    (Conv1D(4, 9), 8, True),                                    # always, whatever the size
])
def test_conv_computes_few_channel_1d_convolutions_as_a_matrix_product(module, channels, by_matrix_product):
  shape = (2, 12, 12, channels) if module.kernel_size == (3, 3) else (2, 12, channels)
  uses_xla_convolution = 'conv_general_dilated' in _primitives(module, jax.ShapeDtypeStruct(shape, jnp.float32))
  assert uses_xla_convolution is not by_matrix_product


@pytest.mark.parametrize('dtype', [None, jnp.bfloat16])
def test_conv_has_flax_convs_parameters_values_and_gradients(dtype):
  x = normal((2, 23, 3), seed=1)
  ours = Conv(5, (3,), strides=(2,), dtype=dtype, bias_init=nn.initializers.normal(1.0))
  flax_conv = nn.Conv(5, (3,), strides=(2,), dtype=dtype, bias_init=nn.initializers.normal(1.0))
  variables = ours.init(jax.random.key(0), x)
  assert jax.tree.map(jnp.shape, variables) == jax.tree.map(jnp.shape, flax_conv.init(jax.random.key(0), x))
  jax.tree.map(np.testing.assert_array_equal, variables, flax_conv.init(jax.random.key(0), x))
  loss = lambda module: lambda v, x: jnp.sum(jnp.sin(module.apply(v, x).astype(jnp.float32)))
  got = jax.jit(jax.value_and_grad(loss(ours), argnums=(0, 1)))(variables, x)
  want = jax.jit(jax.value_and_grad(loss(flax_conv), argnums=(0, 1)))(variables, x)
  assert ours.apply(variables, x).dtype == flax_conv.apply(variables, x).dtype == (dtype or jnp.float32)
  tolerance = 1e-5 if dtype is None else 5e-2
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=tolerance, atol=tolerance), got, want)
