"""Table 1's comparison networks: parameter counts and that each one runs, trains and is registered."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import filled_variables, normal
from ganet_jax.models import MODELS, TABLE1_PARAMETERS, build_model
from ganet_jax.models.complexity import model_parameter_count

BASELINES = ['capsnet', 'cnn_liu2020', 'vgg', 'resnet', 'googlenet', 'cnn_barama2023', 'cnn_zhu2023']
SHORT = (2, 256, 3)  # short records: compiling the full-length networks is slow on CPU


# Each network's trainable parameters on one 10000 x 3 record, as its docstring states them.
PARAMETERS = {'capsnet': 40_992, 'cnn_liu2020': 1_365_463, 'vgg': 11_492, 'resnet': 7_220_162,
              'googlenet': 5_141_282, 'cnn_barama2023': 5_177_482, 'cnn_zhu2023': 80_370}


@pytest.mark.parametrize('name', BASELINES)
def test_parameter_count_is_the_documented_one_within_2_percent_of_table1(name):
  count = model_parameter_count(build_model(name))  # one 10000 x 3 record
  assert count == PARAMETERS[name]
  documented = (MODELS[name].__doc__ or '') + (inspect.getmodule(MODELS[name]).__doc__ or '')
  assert f'{count:,}' in ' '.join(documented.split())
  assert abs(count - TABLE1_PARAMETERS[name]) / TABLE1_PARAMETERS[name] < 0.02, count


# GoogLeNet's training gradient takes ~20 s to compile on the 2-core CPU: it runs with the slow tests
@pytest.mark.parametrize('name', [pytest.param(name, marks=pytest.mark.slow) if name == 'googlenet' else name
                                  for name in BASELINES])
def test_applies_in_both_modes_with_the_ganet_interface(name):
  model = build_model(name)
  x = normal(SHORT)
  variables = filled_variables(model, x)

  def loss(params, x):
    logits, updates = model.apply({**variables, 'params': params}, x, train=True, mutable=['batch_stats'],
                                  rngs={'dropout': jax.random.key(3)})
    return -jnp.mean(jax.nn.log_softmax(logits)[:, 0]), (logits, updates)

  def both_modes(params, x):  # one program: compiling is what costs time here
    return (jax.value_and_grad(loss, has_aux=True)(params, x),
            model.apply({**variables, 'params': params}, x, train=False))

  ((value, (train_logits, updates)), grads), eval_logits = jax.jit(both_modes)(variables['params'], x)
  assert train_logits.shape == eval_logits.shape == (2, 2)
  assert np.isfinite(np.asarray(eval_logits)).all() and np.isfinite(float(value))
  assert sum(np.abs(np.asarray(g)).sum() for g in jax.tree.leaves(grads)) > 0  # NumPy: no compile per leaf
  # batch statistics move in training, as the 'batch_stats' collection promises
  moved = [not np.allclose(a, b) for a, b in zip(jax.tree.leaves(updates['batch_stats']),
                                                    jax.tree.leaves(variables['batch_stats']))]
  assert any(moved)


def test_every_baseline_is_registered_with_a_table1_figure():
  assert set(BASELINES) <= set(MODELS)
  assert set(BASELINES) | {'ganet'} == set(TABLE1_PARAMETERS)


@pytest.mark.parametrize('name', [pytest.param(name, marks=pytest.mark.slow) if name == 'googlenet' else name
                                  for name in BASELINES])
def test_dtype_and_param_dtype_work_as_in_ganet(name):
  # shapes and dtypes only (jax.eval_shape): nothing compiles
  x = jax.ShapeDtypeStruct(SHORT, jnp.float32)
  mixed = build_model(name, dtype=jnp.bfloat16)
  variables = jax.eval_shape(mixed.init, jax.random.key(0), x)
  assert {leaf.dtype for leaf in jax.tree.leaves(variables['params'])} == {jnp.dtype(jnp.float32)}
  assert jax.eval_shape(lambda v, x: mixed.apply(v, x), variables, x).dtype == jnp.bfloat16
  low = build_model(name, param_dtype=jnp.bfloat16)
  assert {leaf.dtype for leaf in jax.tree.leaves(jax.eval_shape(low.init, jax.random.key(0), x)['params'])} == {
      jnp.dtype(jnp.bfloat16)}
  default = build_model(name)
  assert jax.eval_shape(lambda v, x: default.apply(v, x), jax.eval_shape(default.init, jax.random.key(0), x),
                        x).dtype == jnp.float32
