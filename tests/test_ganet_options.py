"""GA-Net's execution options change how it runs, never what it computes: remat and the depthwise formulation."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from ganet_jax import GANet
from ganet_jax.models import model_fields

SMALL = dict(num_bottlenecks=1, width=0.25, head_features=16)


def _loss_and_grads(model, variables, x, y):
  def loss_fn(params):
    logits, updates = model.apply({'params': params, 'batch_stats': variables['batch_stats']}, x, train=True,
                                  mutable=['batch_stats'], rngs={'dropout': jax.random.key(2)})
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), updates
  return jax.jit(jax.value_and_grad(loss_fn, has_aux=True))(variables['params'])


@pytest.mark.parametrize('option', [dict(remat=True), dict(depthwise_impl='grouped')])
def test_option_keeps_parameters_loss_gradients_and_statistics(option):
  x = jax.random.normal(jax.random.key(0), (2, 32, 3))
  y = jnp.array([0, 1])
  plain, optioned = GANet(**SMALL), GANet(**SMALL, **option)
  # jitted: an eager init compiles every operation on its own (seconds each on this CPU)
  variables = jax.jit(plain.init)(jax.random.key(1), x)
  other = jax.jit(optioned.init)(jax.random.key(1), x)
  assert jax.tree.structure(other) == jax.tree.structure(variables)
  jax.tree.map(np.testing.assert_array_equal, other, variables)
  (loss, updates), grads = _loss_and_grads(plain, variables, x, y)
  (loss2, updates2), grads2 = _loss_and_grads(optioned, variables, x, y)
  np.testing.assert_allclose(loss2, loss, rtol=1e-5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5), grads2, grads)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5), updates2, updates)


def test_options_are_config_fields():
  fields = model_fields('ganet')
  assert fields['remat'] is False and fields['depthwise_impl'] == 'auto'
