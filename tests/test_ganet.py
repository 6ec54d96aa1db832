import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from conftest import filled_variables, normal
from ganet_jax import GANet
from ganet_jax.models.complexity import model_parameter_count, parameter_count

TABLE3_PLACEMENTS = [combo for n in (1, 2, 3) for combo in itertools.combinations(('input', 'bottleneck', 'flatten'), n)]
SHORT = (2, 96, 3)  # a short record keeps compilation cheap; any length works


def _shapes(model, shape=SHORT, train=False):
  """(variables, logits) as shapes only: structure and output checks without a compile."""
  x = jax.ShapeDtypeStruct(shape, jnp.float32)
  variables = jax.eval_shape(model.init, jax.random.key(1), x)
  logits = jax.eval_shape(lambda v, x: model.apply(v, x, train=train, mutable=['batch_stats'],
                                                   rngs={'dropout': jax.random.key(2)})[0], variables, x)
  return variables, logits


def _init_apply(model, shape=SHORT, train=False):
  x = normal(shape)
  variables = filled_variables(model, x)
  if train:
    apply = jax.jit(lambda v, x: model.apply(v, x, train=True, mutable=['batch_stats'],
                                             rngs={'dropout': jax.random.key(2)})[0])
  else:
    apply = jax.jit(model.apply)
  return variables, apply(variables, x)


def test_default_parameter_count_matches_table1():
  count = model_parameter_count(GANet())
  assert count == 1_575_317  # the module docstring's figure; Table 1: 1.57M
  assert abs(count - 1.57e6) / 1.57e6 < 0.005, count


def test_ablation_parameter_counts():
  assert model_parameter_count(GANet(use_ghost=False)) == 4_070_515  # ordinary convolutions: 2.6x
  assert model_parameter_count(GANet(cbam_positions=())) == 1_152_616


def test_parameter_counts_of_the_bottleneck_sweep():
  counts = [model_parameter_count(GANet(num_bottlenecks=n)) for n in range(1, 9)]
  assert counts == [494_170, 557_652, 751_283, 1_038_913, 1_575_317, 2_090_725, 2_606_133, 3_121_541]
  # rows 6-8 repeat one configuration: each adds the same parameters
  assert counts[6] - counts[5] == counts[7] - counts[6] == counts[5] - counts[4]


@pytest.mark.parametrize('placement', TABLE3_PLACEMENTS, ids=lambda p: '+'.join(p))
def test_every_table3_placement_builds(placement):
  # shapes only: compiling seven networks would cost a minute; the fullest one runs below
  variables, logits = _shapes(GANet(cbam_positions=placement))
  assert logits.shape == (2, 2)
  names = set(variables['params'])
  assert ('cbam_input' in names) == ('input' in placement)
  assert ('cbam_flatten' in names) == ('flatten' in placement)
  assert ('cbam_bottleneck_0' in names) == ('bottleneck' in placement)


@pytest.mark.parametrize('num_bottlenecks', range(1, 9))
def test_bottleneck_sweep_builds(num_bottlenecks):
  variables, logits = _shapes(GANet(num_bottlenecks=num_bottlenecks))
  assert logits.shape == (2, 2)
  assert sum(k.startswith('bottleneck_') for k in variables['params']) == num_bottlenecks


def test_deepest_network_with_every_attention_placement_runs_finite():
  # what the shape tests above leave out: values, for the largest sweep and placement
  variables, logits = _init_apply(GANet(num_bottlenecks=8, cbam_positions=('input', 'bottleneck', 'flatten')))
  assert logits.shape == (2, 2) and np.isfinite(np.asarray(logits)).all()
  assert sum(k.startswith('bottleneck_') for k in variables['params']) == 8


@pytest.mark.parametrize('model', [GANet(use_ghost=False), GANet(cbam_positions=()), GANet(num_classes=3)],
                         ids=['without_ghost', 'without_cbam', 'three_classes'])
def test_variants_build_in_train_mode(model):
  _, logits = _shapes(model, train=True)
  assert logits.shape == (2, model.num_classes)


def test_a_variant_runs_in_train_mode():
  _, logits = _init_apply(GANet(use_ghost=False, num_classes=3), train=True)
  assert logits.shape == (2, 3) and np.isfinite(np.asarray(logits)).all()


@pytest.mark.parametrize('channels,length', [(1, 50), (3, 1000), pytest.param(6, 37, marks=pytest.mark.slow)])
def test_any_length_and_channel_count(channels, length):
  _, logits = _shapes(GANet(), shape=(1, length, channels))
  assert logits.shape == (1, 2)
  if length == 37:  # the odd length, through every stride's padding, with values
    _, logits = _init_apply(GANet(), shape=(1, length, channels))
    assert np.isfinite(np.asarray(logits)).all()


def test_full_length_record_shape():
  model = GANet()
  out = jax.eval_shape(lambda: model.init_with_output(jax.random.key(0), jnp.zeros((2, 10000, 3)))[0])
  assert out.shape == (2, 2)


def test_width_multiplier_scales_the_table_and_keeps_the_default():
  from ganet_jax.models.ganet import BOTTLENECKS, scaled_table
  assert model_parameter_count(GANet(width=1.0)) == model_parameter_count(GANet())
  quarter = scaled_table(BOTTLENECKS, 0.25)
  assert [row.out_features for row in quarter[:5]] == [12, 20, 36, 52, 72]
  assert all(row.mid_features % 4 == 0 and row.mid_features >= 8 for row in quarter)
  counts = [model_parameter_count(GANet(width=w)) for w in (0.25, 0.5, 1.0)]
  assert counts == [107_435, 404_168, 1_575_317]  # docs/small_data.md gives the first


def test_bad_configuration_is_named():
  with pytest.raises(ValueError, match='unknown cbam_positions'):
    _shapes(GANet(cbam_positions=('head',)))
  with pytest.raises(ValueError, match='num_bottlenecks must be in 1..8'):
    _shapes(GANet(num_bottlenecks=9))
  with pytest.raises(ValueError, match='width must be > 0'):
    _shapes(GANet(width=0.0))


def test_same_seed_same_parameters_different_seed_different():
  model, x = GANet(num_bottlenecks=1), jnp.ones(SHORT)
  init = jax.jit(model.init)
  a, b, c = (init(jax.random.key(s), x) for s in (7, 7, 8))
  assert all(np.array_equal(u, v) for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)))
  assert not all(np.array_equal(u, v) for u, v in zip(jax.tree.leaves(a['params']), jax.tree.leaves(c['params'])))


def test_jit_vmap_and_grad_are_finite_and_consistent():
  model = GANet(num_bottlenecks=1, head_features=32)
  x = normal(SHORT)
  variables = filled_variables(model, x)
  jitted = jax.jit(model.apply)(variables, x)
  # vmap over records, each seen as a batch of one (an eager GA-Net compiles op by op: seconds per layer here)
  mapped = jax.jit(jax.vmap(lambda r: model.apply(variables, r[None])[0]))(x)
  np.testing.assert_allclose(mapped, jitted, rtol=1e-4, atol=1e-5)
  # in evaluation mode each record is classified on its own: the batch's order cannot matter
  np.testing.assert_allclose(jax.jit(model.apply)(variables, x[::-1]), jitted[::-1], rtol=1e-5, atol=1e-6)

  def loss(params):
    logits, _ = model.apply({**variables, 'params': params}, x, train=True, mutable=['batch_stats'],
                            rngs={'dropout': jax.random.key(3)})
    return -jnp.mean(jax.nn.log_softmax(logits)[:, 0])

  grads = jax.jit(jax.grad(loss))(variables['params'])
  leaves = jax.tree.leaves(grads)
  assert all(np.isfinite(np.asarray(g)).all() for g in leaves)
  assert sum(np.abs(np.asarray(g)).sum() for g in leaves) > 0  # NumPy: no compile per leaf
  assert parameter_count(grads) == parameter_count(variables['params'])


@pytest.mark.slow  # compiles GA-Net through the NNX bridge; test_flax_api trains an NNX model by default
def test_ganet_inside_an_nnx_model():
  class Classifier(nnx.Module):
    def __init__(self, rngs):
      self.backbone = nnx.bridge.ToNNX(GANet(num_bottlenecks=1, head_features=32, num_classes=4), rngs=rngs)
      self.head = nnx.Linear(4, 1, rngs=rngs)

    def __call__(self, x):
      return self.head(self.backbone(x))

  x = jnp.ones(SHORT)
  model = Classifier(nnx.Rngs(0))
  # jitted: eagerly, initialisation and the first call compile every operation on its own
  nnx.jit(nnx.bridge.lazy_init)(model.backbone, x)
  out = nnx.jit(lambda m, x: m(x))(model, x)
  assert out.shape == (2, 1)

  @nnx.jit
  def step(model, x):
    grads = nnx.grad(lambda m: jnp.sum(m(x) ** 2))(model)
    return grads

  grads = step(model, x)
  assert any(np.abs(np.asarray(g)).sum() > 0 for g in jax.tree.leaves(nnx.state(grads, nnx.Param)))
