"""Modules against plain NumPy evaluations of the paper's equations 1-5."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import filled_variables, normal
from ganet_jax import CBAM, ChannelAttention, DepthwiseConv1D, GhostBottleneck, GhostModule, SpatialAttention

BN_EPS = 1e-3


def _randomize(tree, seed):
  """Replace every leaf (an array or its shape) with random values in [0.5, 1.5] so no term is trivially zero or one."""
  rng = np.random.default_rng(seed)
  return jax.tree.map(lambda leaf: rng.uniform(0.5, 1.5, leaf.shape).astype(np.float32), tree)


def np_conv_same(x, kernel, stride=1):
  """Plain-loop 'SAME' cross-correlation: x (T, Cin), kernel (K, Cin, Cout)."""
  length, _ = x.shape
  k = kernel.shape[0]
  out_len = -(-length // stride)
  total = max((out_len - 1) * stride + k - length, 0)
  xp = np.pad(x, ((total // 2, total - total // 2), (0, 0)))
  return np.stack([np.einsum('ki,kio->o', xp[t * stride:t * stride + k], kernel) for t in range(out_len)])


def np_batchnorm(x, bn, stats):
  return (x - stats['mean']) / np.sqrt(stats['var'] + BN_EPS) * bn['scale'] + bn['bias']


def np_ghost_module(x, p, s, relu=True):
  act = (lambda y: np.maximum(y, 0)) if relu else (lambda y: y)
  intrinsic = act(np_batchnorm(x @ p['primary_conv']['Dense_0']['kernel'], p['primary_bn'], s['primary_bn']))  # eq. 1
  w = p['cheap_conv']['kernel']  # (K, C2, m): eq. 3, each intrinsic map filtered alone
  ghost = np.concatenate(
      [np_conv_same(intrinsic[:, c:c + 1], w[:, c:c + 1, :]) for c in range(w.shape[1])], axis=-1)
  ghost = act(np_batchnorm(ghost, p['cheap_bn'], s['cheap_bn']))
  return np.concatenate([intrinsic, ghost], axis=-1)


def sigmoid(z):
  return 1 / (1 + np.exp(-z))


def np_channel_attention(x, p):  # eq. 4
  mlp = lambda v: np.maximum(v @ p['w0']['kernel'] + p['w0']['bias'], 0) @ p['w1']['kernel'] + p['w1']['bias']
  return x * sigmoid(mlp(x.mean(0)) + mlp(x.max(0)))


def np_spatial_attention(x, p):  # eq. 5
  pooled = np.stack([x.mean(-1), x.max(-1)], axis=-1)
  return x * sigmoid(np_conv_same(pooled, p['conv']['kernel']))


@pytest.mark.parametrize('features,ratio', [(8, 2), (9, 3)])
def test_ghost_module_equals_numpy_equations(features, ratio):
  x = normal((2, 13, 5))
  module = GhostModule(features, ratio=ratio)
  variables = _randomize(jax.eval_shape(module.init, jax.random.key(1), x), seed=2)  # shapes: no init compile
  out = np.asarray(jax.jit(module.apply)(variables, x))
  assert out.shape == (2, 13, features)
  for b in range(2):
    expected = np_ghost_module(x[b], variables['params'], variables['batch_stats'])[:, :features]
    np.testing.assert_allclose(out[b], expected, rtol=1e-4, atol=1e-4)


def test_cbam_equals_numpy_equations():
  x = normal((2, 20, 32))
  module = CBAM(reduction=8, kernel_size=7)
  params = _randomize(jax.eval_shape(module.init, jax.random.key(1), x), seed=3)['params']
  params = jax.tree.map(lambda v: v - 1.0, params)  # signed weights
  out = np.asarray(jax.jit(module.apply)({'params': params}, x))
  for b in range(2):
    refined = np_channel_attention(x[b], params['channel'])
    np.testing.assert_allclose(out[b], np_spatial_attention(refined, params['spatial']), rtol=1e-4, atol=1e-5)


def test_channel_and_spatial_attention_shapes_and_ranges():
  x = normal((3, 50, 24))
  for module in (ChannelAttention(), SpatialAttention()):
    variables = filled_variables(module, x)
    out = jax.jit(module.apply)(variables, x)
    assert out.shape == x.shape
    # attention only rescales by a gate in (0, 1)
    assert np.all(np.abs(np.asarray(out)) <= np.abs(np.asarray(x)) + 1e-6)


@pytest.mark.parametrize('strides,in_ch,out_ch', [(1, 16, 16), (1, 16, 24), (2, 16, 24), (2, 7, 5)])
@pytest.mark.parametrize('use_ghost', [True, False])
def test_bottleneck_shapes(strides, in_ch, out_ch, use_ghost):
  x = jnp.ones((2, 33, in_ch))
  module = GhostBottleneck(32, out_ch, strides=strides, use_ghost=use_ghost)
  # shapes and structure only, traced without a compile (the values: test_identity_shortcut_is_a_residual)
  variables = jax.eval_shape(module.init, jax.random.key(0), x)
  out, updates = jax.eval_shape(lambda v, x: module.apply(v, x, train=True, mutable=['batch_stats']), variables, x)
  assert out.shape == (2, -(-33 // strides), out_ch)
  assert set(updates['batch_stats']) == set(variables['batch_stats'])
  has_projection = 'shortcut_pw' in variables['params']
  assert has_projection == (strides > 1 or in_ch != out_ch)


def test_identity_shortcut_is_a_residual():
  x = normal((1, 10, 8))
  module = GhostBottleneck(16, 8)
  variables = filled_variables(module, x)
  # zero the projection module's BN scale: the block must reduce to its shortcut
  params = jax.tree_util.tree_map_with_path(
      lambda path, v: jnp.zeros_like(v) if 'ghost2' in str(path) and 'bn' in str(path) else v,
      variables['params'])
  out = jax.jit(module.apply)({'params': params, 'batch_stats': variables['batch_stats']}, x)
  np.testing.assert_allclose(out, x, atol=1e-6)


def test_depthwise_module_shapes():
  module = DepthwiseConv1D(kernel_size=5, strides=2, multiplier=2)
  x = jnp.ones((4, 11, 3))
  variables = jax.eval_shape(module.init, jax.random.key(0), x)
  assert variables['params']['kernel'].shape == (5, 3, 2)
  assert jax.eval_shape(module.apply, variables, x).shape == (4, 6, 6)


def test_ghost_module_rejects_ratio_one():
  with pytest.raises(ValueError, match='ratio must be >= 2'):
    GhostModule(8, ratio=1).init(jax.random.key(0), jnp.ones((1, 4, 2)))
