"""The layers as a researcher imports them: flax/examples-style models, NNX, mixed precision, pooled features."""

import functools
import os
import subprocess
import sys
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from conftest import filled_variables, normal
import ganet_jax
from ganet_jax import CBAM, GANet, GhostModule

X = normal((4, 64, 3))


class TinyNet(nn.Module):
  """A researcher's own network, written as flax/examples/imagenet writes its ResNet."""
  num_classes: int = 2
  dtype: Any = jnp.float32
  norm: Any = None  # None: the examples' BatchNorm partial, built in __call__

  @nn.compact
  def __call__(self, x, train: bool = True):
    norm = self.norm or functools.partial(nn.BatchNorm, use_running_average=not train, momentum=0.9,
                                          epsilon=1e-5, dtype=self.dtype)
    x = nn.Conv(16, (7,), (2,), use_bias=False, dtype=self.dtype, name='conv_init')(x)
    x = nn.relu(norm(name='bn_init')(x))
    x = GhostModule(32, norm=norm, act=nn.gelu, dtype=self.dtype)(x, train=train)
    x = CBAM(reduction=4, dtype=self.dtype)(x)
    x = jnp.mean(x, axis=1)
    x = nn.Dense(self.num_classes, dtype=self.dtype)(x)
    return jnp.asarray(x, self.dtype)


@pytest.mark.parametrize('norm', [None, pytest.param(nn.LayerNorm, marks=pytest.mark.slow)],
                         ids=['examples_batch_norm', 'layer_norm'])
def test_flax_examples_model_with_ghost_module_and_cbam_in_bfloat16(norm):
  model = TinyNet(dtype=jnp.bfloat16, norm=norm)
  variables = jax.jit(lambda x: model.init({'params': jax.random.key(1)}, x))(jnp.ones(X.shape, jnp.bfloat16))
  assert {leaf.dtype for leaf in jax.tree.leaves(variables)} == {jnp.dtype(jnp.float32)}  # param_dtype default
  labels = jnp.array([0, 1, 0, 1])

  @jax.jit
  def train_step(variables, x):
    def loss_fn(params):
      logits, updates = model.apply(
          {**variables, 'params': params}, x, mutable=['batch_stats', 'intermediates'], capture_intermediates=True)
      loss = optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), labels).mean()
      return loss, (logits, updates)
    return jax.grad(loss_fn, has_aux=True)(variables['params'])

  grads, (logits, updates) = train_step(variables, X.astype(jnp.bfloat16))
  assert logits.dtype == jnp.bfloat16 and logits.shape == (4, 2)
  assert all(g.dtype == jnp.float32 and np.isfinite(np.asarray(g)).all() for g in jax.tree.leaves(grads))
  ghost, cbam = updates['intermediates']['GhostModule_0'], updates['intermediates']['CBAM_0']
  # every layer of both modules computed in bfloat16
  assert {leaf.dtype for leaf in jax.tree.leaves((ghost, cbam))} == {jnp.dtype(jnp.bfloat16)}
  if norm is None:
    # the examples' momentum 0.9 (not the Keras default 0.99) reached the module's BatchNorm:
    # from zeroed running means, one update leaves 0.1 x the batch mean
    primary = ghost['primary_conv']['__call__'][0].astype(jnp.float32)
    np.testing.assert_allclose(updates['batch_stats']['GhostModule_0']['primary_bn']['mean'],
                               0.1 * primary.mean(axis=(0, 1)), rtol=2e-2, atol=1e-3)
  else:
    assert 'GhostModule_0' not in variables.get('batch_stats', {})  # LayerNorm: no running statistics
    assert 'LayerNorm_0' not in variables['params']['GhostModule_0']  # named as the module names its norms
    assert set(variables['params']['GhostModule_0']) == {'primary_conv', 'primary_bn', 'cheap_conv', 'cheap_bn'}


class GhostClassifier(nnx.Module):
  """An NNX model built from the Linen layers through ``nnx.bridge`` (the snippet of docs/models.md)."""

  def __init__(self, *, rngs: nnx.Rngs):
    self.ghost = nnx.bridge.ToNNX(GhostModule(16), rngs=rngs)
    self.cbam = nnx.bridge.ToNNX(CBAM(reduction=4), rngs=rngs)
    self.head = nnx.Linear(16, 2, rngs=rngs)

  def __call__(self, x, *, train: bool = False):
    x = self.ghost(x, train=train, mutable=['batch_stats'] if train else False)
    x = self.cbam(x)
    return self.head(jnp.mean(x, axis=1))


def test_nnx_model_trains_with_the_layers():
  model = GhostClassifier(rngs=nnx.Rngs(0))
  nnx.jit(nnx.bridge.lazy_init)(model, X)  # jitted: eagerly each operation of the init compiles on its own
  optimizer = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)
  labels = jnp.array([0, 1, 0, 1])

  @nnx.jit
  def train_step(model, optimizer, x, y):
    def loss_fn(model):
      return optax.softmax_cross_entropy_with_integer_labels(model(x, train=True), y).mean()
    loss, grads = nnx.value_and_grad(loss_fn)(model)
    optimizer.update(model, grads)
    return loss

  before = jax.tree.map(jnp.copy, nnx.state(model, nnx.BatchStat))
  losses = [float(train_step(model, optimizer, X, labels)) for _ in range(2)]
  assert np.isfinite(losses).all() and losses[-1] < losses[0]
  after = nnx.state(model, nnx.BatchStat)
  assert not all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(after)))
  assert nnx.jit(lambda model, x: model(x))(model, X).shape == (4, 2)  # evaluation: the running statistics


@pytest.fixture(scope='module')
def small_ganet():
  model = GANet(num_bottlenecks=1, head_features=32)
  return model, filled_variables(model, X)


def test_pooled_features_feed_the_classifier(small_ganet):
  model, variables = small_ganet
  features = jax.jit(functools.partial(model.apply, method='features'))(variables, X)
  assert features.shape == (4, 32)
  classifier = variables['params']['classifier']
  np.testing.assert_allclose(features @ classifier['kernel'] + classifier['bias'], jax.jit(model.apply)(variables, X),
                             rtol=1e-5, atol=1e-5)


def test_ganet_in_bfloat16_keeps_float32_parameters(small_ganet):
  model, variables = small_ganet
  half = model.clone(dtype=jnp.bfloat16)
  assert jax.tree.structure(jax.eval_shape(half.init, jax.random.key(0), X)) == jax.tree.structure(variables)
  logits = jax.jit(half.apply)(variables, X)
  assert logits.dtype == jnp.bfloat16
  np.testing.assert_allclose(logits.astype(np.float32), jax.jit(model.apply)(variables, X), rtol=0.1, atol=0.1)


def test_public_api_is_explicit():
  from ganet_jax import data, evaluation, models, nn as layers, studies, training
  for package in (ganet_jax, data, evaluation, models, layers, studies, training):
    assert all(hasattr(package, name) for name in package.__all__), package.__name__
  for name in ('GhostModule', 'GhostBottleneck', 'ChannelAttention', 'SpatialAttention', 'CBAM', 'GANet',
               'DepthwiseConv1D', 'PointwiseConv', 'BatchNorm', 'build_model'):
    assert name in ganet_jax.__all__
  # one BatchNorm: the same class wherever it is imported from, with Keras' constants as its defaults
  from ganet_jax.nn import batchnorm
  assert ganet_jax.BatchNorm is layers.BatchNorm is batchnorm.BatchNorm and isinstance(ganet_jax.BatchNorm, type)
  assert (ganet_jax.BatchNorm().momentum, ganet_jax.BatchNorm().epsilon) == (0.99, 1e-3)


def test_imports_leave_the_matplotlib_backend_alone():
  # pyplot itself may be loaded (ObsPy's signal package imports it); the backend must not change
  code = ('import matplotlib; before = matplotlib.get_backend(); '
          'import ganet_jax.classify, ganet_jax.studies.report, ganet_jax.evaluation.plots; '
          'after = matplotlib.get_backend(); assert before == after == "svg", (before, after)')
  subprocess.run([sys.executable, '-c', code], check=True, env={**os.environ, 'MPLBACKEND': 'svg'})
