"""Self-supervised pretraining (NT-Xent over two views), its resume, and the encoder's transfer to a classifier."""

import dataclasses
import functools
import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import normal
from ganet_jax import conventions
from ganet_jax.data import ingest, records_table
from ganet_jax.data.synthetic import make_synthetic
from ganet_jax.models import build_model
from ganet_jax.training import contrastive, experiment
from ganet_jax.training.config import ExperimentConfig
from ganet_jax.training.step import create_train_state, model_variables, run_optimizer

TINY = {'num_bottlenecks': 1, 'head_features': 16}
SAMPLES = 256


# jitted: eagerly each of the loss's operations compiles on its own
nt_xent_loss = jax.jit(contrastive.nt_xent_loss, static_argnums=2)


def test_nt_xent_is_low_when_views_agree_and_near_chance_when_they_do_not():
  z = normal((16, 32))
  agree = nt_xent_loss(z, z + 0.01 * normal(z.shape, seed=1), 0.1)
  shuffled = nt_xent_loss(z, z[::-1], 0.1)
  assert float(agree) < 0.1
  assert float(shuffled) > 2.0
  # identical projections everywhere: every candidate equally likely, loss = log(2n - 1)
  same = nt_xent_loss(jnp.ones((8, 4)), jnp.ones((8, 4)), 0.5)
  np.testing.assert_allclose(float(same), np.log(15), rtol=1e-5)


def test_nt_xent_gradient_is_finite_for_zero_projections():
  grads = jax.jit(jax.grad(lambda z: contrastive.nt_xent_loss(z, z, 0.1)))(jnp.zeros((4, 8)))
  assert np.isfinite(np.asarray(grads)).all()


def _records():
  return make_synthetic(16, seed=1, samples=SAMPLES).subset(np.arange(16))


# One setting for every pretraining here: the optimizer's schedule counts steps, so
# equal settings share the step's compile.
CONFIG = contrastive.PretrainConfig(model_overrides=dict(TINY), epochs=2, batch_size=8, learning_rate=3e-3,
                                    augmentation={'max_shift_s': 0.2, 'snr_db_range': (10.0, 20.0)})


@pytest.fixture(scope='module')
def pretrained(tmp_path_factory):
  """A finished two-epoch pretraining run folder and its history."""
  workdir = tmp_path_factory.mktemp('pretrained')
  return workdir, contrastive.pretrain(CONFIG, _records(), workdir, log=lambda line: None)


def test_a_resumed_pretraining_run_ends_where_an_uninterrupted_one_does(pretrained, tmp_path):
  whole_dir, whole = pretrained
  assert [h['epoch'] for h in whole] == [1, 2]
  # interrupted after epoch 1: its checkpoint and history line of epoch 2 never written
  shutil.copytree(whole_dir, tmp_path / 'cut')
  shutil.rmtree(tmp_path / 'cut' / 'checkpoints' / 'latest' / '2')
  lines = []
  resumed = contrastive.pretrain(CONFIG, _records(), tmp_path / 'cut', log=lines.append)
  assert any('resuming from the checkpoint of epoch 1' in line for line in lines)
  assert [h['epoch'] for h in resumed] == [1, 2]
  np.testing.assert_allclose(resumed[-1]['loss'], whole[-1]['loss'], rtol=1e-5)
  _, a = contrastive.load_encoder(whole_dir)
  _, b = contrastive.load_encoder(tmp_path / 'cut')
  jax.tree.map(functools.partial(np.testing.assert_allclose, rtol=1e-5, atol=1e-6), a, b)


def test_a_pretraining_folder_refuses_other_settings(pretrained):
  with pytest.raises(ValueError, match='other settings'):
    contrastive.pretrain(dataclasses.replace(CONFIG, temperature=0.5), _records(), pretrained[0],
                         log=lambda line: None)


def test_a_classifier_starts_from_the_pretrained_encoder_with_a_fresh_head(pretrained):
  records = _records()
  _, encoder = contrastive.load_encoder(pretrained[0])
  config = ExperimentConfig(model_overrides=dict(TINY), epochs=0, batch_size=8, init_from=str(pretrained[0]))
  make_state = functools.partial(create_train_state, build_model('ganet', **TINY), jax.random.key(0),
                                 records.waveforms.shape)
  fresh = model_variables(make_state())
  state = model_variables(experiment._initial_state(make_state, config, lambda line: None))
  # every encoder entry taken over, the classifier's head left as initialised
  for collection in ('params', 'batch_stats'):
    flat = jax.tree_util.tree_flatten_with_path(encoder[collection])[0]
    assert flat
    for path, value in flat:
      got = functools.reduce(lambda tree, key: tree[key.key], path, state[collection])
      np.testing.assert_array_equal(np.asarray(got), np.asarray(value))
  assert 'classifier' not in encoder['params']
  np.testing.assert_array_equal(state['params']['classifier']['kernel'], fresh['params']['classifier']['kernel'])
  assert not np.array_equal(jax.tree.leaves(state['params']['head_conv'])[0],
                            jax.tree.leaves(fresh['params']['head_conv'])[0])


def test_an_encoder_of_another_width_is_refused_naming_the_entry(pretrained):
  _, encoder = contrastive.load_encoder(pretrained[0])
  # shapes only: the refusal is decided on them
  wider = jax.eval_shape(functools.partial(build_model('ganet', num_bottlenecks=1, head_features=32).init, train=False),
                         jax.random.key(0), jnp.zeros((1, SAMPLES, 3)))
  with pytest.raises(ValueError, match=r'head_(conv|bn).*shape.*pretrain the same model and width'):
    contrastive.with_encoder(wider, encoder)


def test_load_encoder_names_a_folder_that_is_no_pretraining_run(tmp_path):
  with pytest.raises(FileNotFoundError, match='no pretraining run'):
    contrastive.load_encoder(tmp_path)
  # a training run's config.json: no 'kind' of pretraining
  (tmp_path / 'config.json').write_text(json.dumps({'config': {}, 'data': {}}))
  with pytest.raises(FileNotFoundError, match='not of a pretraining run'):
    contrastive.load_encoder(tmp_path)


def test_an_unlabeled_pool_is_prepared_with_label_minus_one_and_refused_for_training(shared_data, tmp_path):
  from ganet_jax.data.dataset import load_split
  from ganet_jax.data.records import load_prepared, save_prepared
  from experiments.configs import small
  with pytest.raises(ValueError, match='--unlabeled'):
    records_table.read_records_table(shared_data / 'pnw-unlabeled' / 'records.csv')
  rows = records_table.read_records_table(shared_data / 'pnw-unlabeled' / 'records.csv', labelled=False)
  chosen = [r for r in rows if r.field('channel') == 'EHZ'][:3]
  prepared, rejected = ingest.prepare_records(chosen, ingest.PrepareOptions(unlabeled=True))
  assert len(prepared) + len(rejected) == 3 and len(prepared) >= 1
  assert set(prepared.labels) == {conventions.UNLABELED}
  assert set(prepared.event_types) == {conventions.UNLABELED_TYPE}
  save_prepared(tmp_path / 'pool', prepared, rejected)
  assert set(load_prepared(tmp_path / 'pool').labels) == {conventions.UNLABELED}
  config = small.get_config()
  config.dataset = str(tmp_path / 'pool')
  with pytest.raises(ValueError, match='no label .*experiments.pretrain'):
    load_split(config)


def test_a_missing_pretraining_run_is_named_as_the_init_from_field(tmp_path):
  config = ExperimentConfig(model_overrides=dict(TINY), init_from=str(tmp_path / 'absent'))
  with pytest.raises(ValueError, match=r'--config.init_from.*absent.*run experiments.pretrain first'):
    experiment._initial_state(lambda: None, config, lambda line: None)


@pytest.mark.parametrize('model', ['ganet', pytest.param('ganet_fusion', marks=pytest.mark.slow)])  # compiles long
def test_a_frozen_encoder_moves_only_the_head(pretrained, model):
  from ganet_jax.models import head_parameters
  records = _records()
  config = ExperimentConfig(model=model, model_overrides=dict(TINY), epochs=1, batch_size=8, learning_rate=1e-2,
                            init_from=str(pretrained[0]), freeze_encoder=True, precise_batch_norm=False)
  tx = run_optimizer(config, len(records))
  make_state = functools.partial(create_train_state, build_model(model, **TINY), jax.random.key(0),
                                 records.waveforms.shape, tx=tx)
  state = experiment._initial_state(make_state, config, lambda line: None)
  # the head is exactly what the pretrained encoder does not hold
  _, encoder = contrastive.load_encoder(pretrained[0])
  assert set(state.params) - set(encoder['params']) == set(head_parameters(model))
  before = jax.tree.map(np.asarray, state.params)
  from ganet_jax.training.losses import cross_entropy
  from ganet_jax.training.step import jit_train_step
  batch = {'waveforms': jnp.asarray(records.waveforms[:8]), 'labels': jnp.asarray(records.labels[:8])}
  state, _ = jit_train_step(state, batch, jax.random.key(1), loss_fn=cross_entropy)
  for name in before:
    moved = any(not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(before[name]),
                                                         jax.tree.leaves(state.params[name])))
    assert moved == (name in head_parameters(model)), name


def test_freeze_encoder_is_refused_where_it_does_not_apply():
  with pytest.raises(ValueError, match='--config.freeze_encoder: needs --config.init_from'):
    ExperimentConfig(freeze_encoder=True).check()
  with pytest.raises(ValueError, match="--config.freeze_encoder: model 'resnet' has no pretrained-encoder/head split"):
    experiment.check_config(ExperimentConfig(model='resnet', init_from='runs/pretrain', freeze_encoder=True))
