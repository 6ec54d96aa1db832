"""Data-parallel and mixed-precision training through the same step and runner (8 simulated CPU devices)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from conftest import filled_variables, normal
from ganet_jax import GANet
from ganet_jax.data.synthetic import make_synthetic
from ganet_jax.evaluation.predict import predict_probabilities
from ganet_jax.sharding import data_mesh, replicate, shard_batch
from ganet_jax.training.config import ExperimentConfig
from ganet_jax.training.experiment import run
from ganet_jax.training.losses import cross_entropy
from ganet_jax.training.step import create_train_state, jit_train_step

TINY = {'num_bottlenecks': 1, 'head_features': 16, 'dropout_rate': 0.0}


def _batch(n=8, length=64):
  x = normal((n, length, 3)) * np.arange(1, n + 1, dtype=np.float32)[:, None, None]
  return {'waveforms': x, 'labels': jnp.arange(n, dtype=jnp.int32) % 2}


def _step(state, batch, mesh=None, compute_dtype=None):
  if mesh is not None:
    state, batch = replicate(state, mesh), shard_batch(batch, mesh)
  return jit_train_step(state, batch, jax.random.key(5), loss_fn=cross_entropy, compute_dtype=compute_dtype)


@pytest.mark.slow
@pytest.mark.parametrize('num_devices', [8])
def test_one_step_on_many_devices_equals_one_device(num_devices):
  # Plain SGD, not Adam: Adam divides by sqrt(v) + eps, so a gradient of ~1e-8 (a
  # BatchNorm bias before a BatchNorm) whose summation order differs across devices
  # moves its parameter by +-lr either way. An SGD step is lr * gradient, so the
  # parameters after it compare the gradients themselves, which agree to float32
  # rounding whatever the order of the sums.
  model, batch = GANet(**TINY), _batch()
  make = lambda: create_train_state(model, jax.random.key(1), batch['waveforms'].shape, tx=optax.sgd(1.0))
  initial = make()
  single, single_metrics = _step(make(), batch)
  sharded, sharded_metrics = _step(make(), batch, data_mesh(num_devices))
  assert len(sharded.params['classifier']['kernel'].sharding.device_set) == num_devices
  np.testing.assert_allclose(sharded_metrics['loss'], single_metrics['loss'], rtol=1e-5)
  assert int(sharded_metrics['correct']) == int(single_metrics['correct'])
  for got, want in zip(jax.tree.leaves(sharded.batch_stats), jax.tree.leaves(single.batch_stats)):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
  # with lr 1: initial - new is the gradient; each leaf's agrees to 1e-4 of its own scale
  gradient = lambda state: jax.tree.map(lambda a, b: np.asarray(a) - np.asarray(b), initial.params, state.params)
  assert max(np.abs(leaf).max() for leaf in jax.tree.leaves(gradient(single))) > 1e-3  # the step moved
  for got, want in zip(jax.tree.leaves(gradient(sharded)), jax.tree.leaves(gradient(single))):
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4 * np.abs(want).max() + 1e-7)


def test_sharded_evaluation_equals_single_device_with_an_uneven_last_batch():
  records = make_synthetic(3, stations_per_event=(5, 5), samples=64, seed=0)
  assert len(records) % 8  # the last batch is partly padding
  model = GANet(**TINY)
  variables = filled_variables(model, jnp.zeros((1, 64, 3)))
  single = predict_probabilities(model, variables, records, batch_size=8)
  sharded = predict_probabilities(model, variables, records, batch_size=8, mesh=data_mesh(8))
  assert single.shape == (len(records),)
  np.testing.assert_allclose(sharded, single, rtol=1e-5, atol=1e-6)


@pytest.mark.slow  # two train-step compiles; test_config_effects runs compute_dtype by default
def test_bfloat16_step_keeps_float32_state_and_tracks_float32():
  # the step's casts are under test, not the network: GA-Net without its attention compiles sooner
  model, batch = GANet(**TINY, cbam_positions=()), _batch()
  make = lambda: create_train_state(model, jax.random.key(1), batch['waveforms'].shape, learning_rate=1e-3)
  full, full_metrics = _step(make(), batch)
  mixed, mixed_metrics = _step(make(), batch, compute_dtype='bfloat16')
  assert {leaf.dtype for leaf in jax.tree.leaves((mixed.params, mixed.opt_state, mixed.batch_stats))
          if hasattr(leaf, 'dtype') and jnp.issubdtype(leaf.dtype, jnp.floating)} == {jnp.dtype('float32')}
  assert mixed_metrics['loss'].dtype == jnp.float32
  np.testing.assert_allclose(mixed_metrics['loss'], full_metrics['loss'], rtol=0.05)
  moved = [np.abs(np.asarray(a) - np.asarray(b)).max()  # NumPy: no compile per leaf
           for a, b in zip(jax.tree.leaves(mixed.params), jax.tree.leaves(make().params))]
  assert max(moved) > 0


@pytest.mark.slow  # a whole run over the 8-device mesh
def test_runner_trains_data_parallel(tmp_path):
  records = make_synthetic(6, stations_per_event=(4, 4), samples=64, seed=1)
  train, test = records.subset(np.arange(16)), records.subset(np.arange(16, len(records)))
  base = dict(model='ganet', model_overrides=TINY, epochs=1, batch_size=8, learning_rate=1e-3,
              precise_batch_norm=False)
  one = run(ExperimentConfig(**base, num_devices=1), train, test, tmp_path / 'one', log=lambda _: None)
  eight = run(ExperimentConfig(**base, num_devices=8), train, test, tmp_path / 'eight', log=lambda _: None)
  assert eight['confusion'] == one['confusion']
  assert abs(eight['auc'] - one['auc']) < 1e-3
  with pytest.raises(ValueError, match='compute_dtype: unknown'):
    run(ExperimentConfig(**base, compute_dtype='float16'), train, test, tmp_path / 'half')
  with pytest.raises(ValueError, match='batch_size 8 does not divide over num_devices 3'):
    run(ExperimentConfig(**base, num_devices=3), train, test, tmp_path / 'three')


def test_bfloat16_reaches_every_registered_model_through_its_dtype():
  from ganet_jax.models import MODELS, model_kwargs
  assert model_kwargs('ganet', {'num_bottlenecks': [1]}, compute_dtype='bfloat16') == {
      'num_bottlenecks': (1,), 'dtype': jnp.dtype('bfloat16')}
  for name in MODELS:  # the modules compute in bfloat16 themselves; the steps cast nothing
    assert model_kwargs(name, {}, compute_dtype='bfloat16') == {'dtype': jnp.dtype('bfloat16')}, name
  assert model_kwargs('ganet', {}) == {}
