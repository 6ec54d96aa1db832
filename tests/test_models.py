"""Every registered network takes ``norm``, ``conv`` and dtypes as flax's ImageNet ResNet does.

The factories reach every layer they stand for, a partial's own keywords win over the
network's, and the defaults are the layers the networks were published with.
"""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ganet_jax.models import MODELS, build_model
from ganet_jax.nn.layers import Conv, Conv1D

SHORT = (2, 256, 3)  # short records: compiling the full-length networks is slow on CPU
X = jax.ShapeDtypeStruct(SHORT, jnp.float32)
GANETS = ('ganet', 'ganet_without_ghost', 'ganet_without_cbam', 'ganet_fusion')
BASELINES = tuple(name for name in MODELS if name not in GANETS)
def _leaves(tree):
  """(path of keys, leaf) pairs of a variable tree."""
  return [(tuple(key.key for key in path), leaf) for path, leaf in jax.tree_util.tree_leaves_with_path(tree)]


def _own_layer(module):
  """GA-Net's convolutions that ``conv`` does not build: the depthwise ones and CBAM's spatial one."""
  return any(part.startswith('cbam') for part in module) or module[-1] in ('cheap_conv', 'dw_conv', 'shortcut_dw')


@pytest.mark.parametrize('name', list(MODELS))
def test_conv_builds_every_ordinary_convolution_and_its_bound_keywords_win(name):
  made = []

  def recording_conv(*args, **kwargs):  # records the computation dtype the network gives each convolution
    made.append(kwargs['dtype'])
    return nn.Conv(*args, **kwargs)

  # the networks ask for no bias and float32 parameters; the partial's bias and bfloat16 win
  conv = functools.partial(recording_conv, use_bias=True, param_dtype=jnp.bfloat16)
  model = build_model(name, conv=conv, dtype=jnp.bfloat16)
  variables = jax.eval_shape(model.init, jax.random.key(0), X)
  leaves = _leaves(variables['params'])
  kernels = {path[:-1]: leaf for path, leaf in leaves if path[-1] == 'kernel' and leaf.ndim == 3}
  built = {module for module, kernel in kernels.items() if kernel.dtype == jnp.bfloat16}
  with_bias = {path[:-1] for path, _ in leaves if path[-1] == 'bias'} & set(kernels)
  expected = {module for module in kernels if not _own_layer(module)}
  assert built == with_bias == expected and made == [jnp.bfloat16] * len(expected)
  if name in GANETS:
    ghost_stand_ins = {module for module in expected if module[-1] == 'Conv_0'}
    assert ('stem_conv',) in expected and len(ghost_stand_ins) == (10 if name == 'ganet_without_ghost' else 0)
    assert all(kernel.dtype == jnp.float32 for module, kernel in kernels.items() if _own_layer(module))
  else:
    assert expected == set(kernels) and len(expected) > 2
  logits = jax.eval_shape(lambda v: model.apply(v, jnp.zeros(SHORT)), variables)
  assert logits.dtype == jnp.bfloat16


@pytest.mark.parametrize('name', list(MODELS))
def test_norm_builds_every_normalization(name):
  default = jax.eval_shape(build_model(name).init, jax.random.key(0), X)
  layer_norm = jax.eval_shape(build_model(name, norm=nn.LayerNorm).init, jax.random.key(0), X)
  batch_norms = sorted(leaf.shape for path, leaf in _leaves(default['batch_stats']) if path[-1] == 'mean')
  scales = lambda params: sorted(leaf.shape for path, leaf in _leaves(params) if path[-1] == 'scale')
  assert 'batch_stats' not in layer_norm  # LayerNorm everywhere BatchNorm was, with its scale and bias
  assert scales(layer_norm['params']) == scales(default['params']) == batch_norms and batch_norms


def _published_conv(features, kernel_size, *, name=None, **kwargs):
  """GA-Net's convolutions before it took ``conv``: the stem by im2col (``Conv1D``), the others flax's."""
  return (Conv1D if name == 'stem_conv' else nn.Conv)(features, kernel_size, name=name, **kwargs)


def _filled(abstract):
  """Variables of ``abstract``'s structure filled by NumPy (a jitted random init compiles slowly)."""
  rng = np.random.default_rng(0)
  fill = lambda path, leaf: (np.ones(leaf.shape, leaf.dtype) if 'var' in jax.tree_util.keystr(path)
                             else (0.1 * rng.standard_normal(leaf.shape)).astype(leaf.dtype))
  return jax.tree_util.tree_map_with_path(fill, abstract)


@pytest.mark.parametrize('name', list(MODELS))
def test_default_conv_gives_the_published_parameters_and_computation(name):
  default = build_model(name)
  explicit = build_model(name, conv=_published_conv if name in GANETS else nn.Conv)
  abstract = jax.eval_shape(default.init, jax.random.key(0), X)
  assert jax.eval_shape(explicit.init, jax.random.key(0), X) == abstract
  variables, x = _filled(abstract), jax.random.normal(jax.random.key(1), SHORT)
  # the same program, operation for operation: the same outputs for these variables and any others
  program = lambda model: str(jax.make_jaxpr(lambda v, x: model.apply(v, x))(variables, x))
  assert program(default) == program(explicit)
