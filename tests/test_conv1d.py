import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ganet_jax.nn.conv1d import conv1d


def _reference(x, kernel, stride):
  return jax.lax.conv_general_dilated(x, kernel, (stride,), 'SAME', dimension_numbers=('NWC', 'WIO', 'NWC'))


# jitted: one compile per shape; eagerly every operation compiles on its own
_jit_conv1d = jax.jit(conv1d, static_argnames='stride')
_jit_reference = jax.jit(_reference, static_argnums=2)


@pytest.mark.parametrize('stride', [1, 2, 3])
@pytest.mark.parametrize('kernel_size,in_channels,out_channels', [(3, 3, 16), (7, 2, 1), (1, 4, 5)])
def test_matches_xla_convolution(stride, kernel_size, in_channels, out_channels):
  kx, kw = jax.random.split(jax.random.key(kernel_size + stride))
  x = jax.random.normal(kx, (2, 23, in_channels))
  kernel = jax.random.normal(kw, (kernel_size, in_channels, out_channels))
  np.testing.assert_allclose(_jit_conv1d(x, kernel, stride=stride), _jit_reference(x, kernel, stride),
                             rtol=1e-5, atol=1e-5)


def test_gradients_match_xla_convolution():
  kx, kw = jax.random.split(jax.random.key(0))
  x = jax.random.normal(kx, (2, 30, 3))
  kernel = jax.random.normal(kw, (3, 3, 4))
  loss = lambda f: lambda x, w: jnp.sum(jnp.sin(f(x, w, 2)))
  grads = jax.jit(jax.grad(loss(lambda x, w, s: conv1d(x, w, stride=s)), argnums=(0, 1)))(x, kernel)
  expected = jax.jit(jax.grad(loss(_reference), argnums=(0, 1)))(x, kernel)
  for got, want in zip(grads, expected):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_channel_mismatch_is_named():
  with pytest.raises(ValueError, match='3 input channels, input has 4'):
    conv1d(jnp.zeros((1, 8, 4)), jnp.zeros((3, 3, 2)))
