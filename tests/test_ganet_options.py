"""GA-Net's execution options change how it runs, never what it computes: remat, the depthwise formulation, BatchNorm's backward pass."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from conftest import normal
from ganet_jax import GANet
from ganet_jax.models import model_fields
from ganet_jax.nn.batchnorm import BatchNorm, train_batch_norm
from ganet_jax.nn.layers import max_pool

SMALL = dict(num_bottlenecks=1, width=0.25, head_features=16)


# One input for every comparison below, so the plain network is initialised and
# differentiated once (``_plain``) and each option compiles only its own programs.
X = 3 * normal((4, 64, 3)) + 1  # off-centre: BatchNorm's statistics matter
Y = jnp.array([0, 1, 1, 0])


def _loss_and_grads(model, variables):
  def loss_fn(params):
    logits, updates = model.apply({'params': params, 'batch_stats': variables['batch_stats']}, X, train=True,
                                  mutable=['batch_stats'], rngs={'dropout': jax.random.key(2)})
    return optax.softmax_cross_entropy_with_integer_labels(logits, Y).mean(), (logits, updates)
  return jax.jit(jax.value_and_grad(loss_fn, has_aux=True))(variables['params'])


@functools.lru_cache(maxsize=None)
def _plain():
  """The default small GA-Net's variables and (loss, (logits, statistics)), gradients."""
  model = GANet(**SMALL)
  # jitted: an eager init compiles every operation on its own (seconds each on this CPU)
  variables = jax.jit(model.init)(jax.random.key(1), X)
  return variables, _loss_and_grads(model, variables)


def _assert_same_step(got, want, *, rtol_loss, rtol_grads, atol):
  (loss, (logits, updates)), grads = got
  (loss2, (logits2, updates2)), grads2 = want
  np.testing.assert_allclose(loss, loss2, rtol=rtol_loss)
  np.testing.assert_allclose(logits, logits2, rtol=rtol_loss, atol=atol)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=rtol_grads, atol=atol), grads, grads2)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=rtol_grads, atol=atol), updates, updates2)


@pytest.mark.parametrize('option', [pytest.param(dict(remat=True), marks=pytest.mark.slow),  # compiles long
                                    dict(depthwise_impl='grouped')])
def test_option_keeps_parameters_loss_gradients_and_statistics(option):
  variables, plain_step = _plain()
  optioned = GANet(**SMALL, **option)
  other = jax.jit(optioned.init)(jax.random.key(1), X)
  assert jax.tree.structure(other) == jax.tree.structure(variables)
  jax.tree.map(np.testing.assert_array_equal, other, variables)
  _assert_same_step(_loss_and_grads(optioned, variables), plain_step, rtol_loss=1e-5, rtol_grads=1e-3, atol=1e-5)


def test_options_are_config_fields():
  fields = model_fields('ganet')
  assert fields['remat'] is False and fields['depthwise_impl'] == 'auto'


def test_default_batchnorm_is_flax_batchnorm_with_the_same_values_and_gradients():
  # ganet_jax.nn.batchnorm changes only what the training backward pass keeps; evaluation
  # mode runs flax's own code (test_batchnorm_keeps_flax_names_and_falls_back_outside_its_case)
  variables, ours = _plain()
  theirs = GANet(**SMALL, norm=functools.partial(nn.BatchNorm, momentum=0.99, epsilon=1e-3))
  assert jax.eval_shape(theirs.init, jax.random.key(1), X) == jax.eval_shape(lambda: variables)
  _assert_same_step(ours, _loss_and_grads(theirs, variables), rtol_loss=1e-6, rtol_grads=1e-4, atol=1e-6)


def test_batchnorm_statistics_outputs_have_their_gradients():
  # the batch mean and variance are outputs of the custom VJP too: their derivatives are autodiff's
  x = normal((5, 7, 3), seed=3)
  scale, bias = jnp.array([1.5, -0.5, 2.0]), jnp.array([0.1, 0.2, -0.3])

  def reference(x, scale, bias):
    mean, var = x.mean((0, 1)), jnp.maximum(0.0, jnp.square(x).mean((0, 1)) - jnp.square(x.mean((0, 1))))
    return (x - mean) * jax.lax.rsqrt(var + 1e-3) * scale + bias, mean, var

  loss = lambda f: lambda *args: sum(jnp.sum(jnp.sin(out)) for out in f(*args))
  grad = lambda f: jax.jit(jax.grad(loss(f), argnums=(0, 1, 2)))  # jitted: eagerly each operation compiles alone
  got = grad(lambda *a: train_batch_norm(*a, (0, 1), 1e-3))(x, scale, bias)
  want = grad(reference)(x, scale, bias)
  for g, w in zip(got, want):
    np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


def test_batchnorm_keeps_flax_names_and_falls_back_outside_its_case():
  assert issubclass(BatchNorm, nn.BatchNorm) and BatchNorm.__name__ == 'BatchNorm'
  assert (BatchNorm().momentum, BatchNorm().epsilon) == (0.99, 1e-3)  # Keras' constants, the paper's
  assert BatchNorm(epsilon=1e-5).epsilon == 1e-5
  x = normal((6, 5, 4), seed=4).astype(jnp.bfloat16)  # flax's own code for bfloat16
  outputs = []
  for layer in (BatchNorm(use_running_average=False), nn.BatchNorm(use_running_average=False, epsilon=1e-3)):
    variables = layer.init(jax.random.key(0), x)
    outputs.append(layer.apply(variables, x, mutable=['batch_stats']))
  jax.tree.map(np.testing.assert_array_equal, *outputs)


@pytest.mark.parametrize('axis', [-1, -2])
def test_max_pool_gradient_is_autodiffs_ties_included(axis):
  x = jnp.round(2 * normal((3, 9, 4), seed=5))  # rounded: ties in most rows
  probe = normal(jnp.max(x, axis=axis, keepdims=True).shape, seed=6)
  loss = lambda pool: lambda x: jnp.sum(jnp.sin(pool(x) * probe))
  np.testing.assert_array_equal(max_pool(x, axis), jnp.max(x, axis=axis, keepdims=True))
  np.testing.assert_allclose(jax.grad(loss(lambda x: max_pool(x, axis)))(x),
                             jax.grad(loss(lambda x: jnp.max(x, axis=axis, keepdims=True)))(x), rtol=1e-6, atol=1e-7)
