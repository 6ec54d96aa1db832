"""Train step: one step on tiny shapes, compiles once, non-finite loss, precise BatchNorm."""

import functools

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ganet_jax.models import GANet
from ganet_jax.training import losses, step

# The tiny model, batch and learning rate of test_experiment: one compile serves both files.
TINY = GANet(num_bottlenecks=1, head_features=8, cbam_positions=())
SHAPE = (8, 256, 3)


@pytest.fixture(scope='module')
def batch():
  rng = np.random.default_rng(0)
  return {'waveforms': jnp.asarray(rng.normal(size=SHAPE), jnp.float32), 'labels': jnp.array([0, 1] * 4)}


def _state():
  return step.create_train_state(TINY, jax.random.key(0), SHAPE, learning_rate=1e-3)


def test_one_step_updates_parameters_and_batch_stats(batch):
  state = _state()
  before = jax.tree.map(np.asarray, (state.params, state.batch_stats))
  new, step_metrics = step.jit_train_step(state, batch, jax.random.key(1), loss_fn=losses.cross_entropy)
  assert int(new.step) == 1
  assert np.isfinite(float(step_metrics['loss'])) and 0 <= int(step_metrics['correct']) <= 8
  moved = lambda a, b: not np.allclose(np.asarray(a), b)
  assert moved(new.params['stem_conv']['kernel'], before[0]['stem_conv']['kernel'])
  assert moved(new.params['classifier']['kernel'], before[0]['classifier']['kernel'])
  # (the head's batch mean stays ~0 here: its 1x1 convolution sees BatchNorm's zero-mean output)
  assert moved(new.batch_stats['stem_bn']['mean'], before[1]['stem_bn']['mean'])
  assert moved(new.batch_stats['head_bn']['var'], before[1]['head_bn']['var'])


def test_step_compiles_once_and_donates(batch):
  state, _ = step.jit_train_step(_state(), batch, jax.random.key(1), loss_fn=losses.cross_entropy)
  compiled = step.jit_train_step._cache_size()
  for _ in range(3):
    old = state
    state, _ = step.jit_train_step(state, batch, jax.random.key(1), loss_fn=losses.cross_entropy)
  assert step.jit_train_step._cache_size() == compiled  # steps 2-4 reused step 1's executable
  assert int(state.step) == 4
  assert old.params['classifier']['kernel'].is_deleted()  # donated: updated in place


def test_dropout_keys_follow_the_step(batch):
  # The same state and rng give the same update: resumption needs no hidden rng state.
  one = step.jit_train_step(_state(), batch, jax.random.key(1), loss_fn=losses.cross_entropy)
  two = step.jit_train_step(_state(), batch, jax.random.key(1), loss_fn=losses.cross_entropy)
  chex.assert_trees_all_equal(one[0].params, two[0].params)
  # The same parameters at another step number draw other dropout masks (fold_in(rng, step)):
  # the loss, a function of the masks, differs.
  later = _state()
  later = later.replace(step=later.step + 1)
  moved = step.jit_train_step(later, batch, jax.random.key(1), loss_fn=losses.cross_entropy)
  assert float(moved[1]['loss']) != float(one[1]['loss'])


def test_non_finite_loss_names_the_step():
  step.check_finite(0.5, step=3, epoch=1)
  with pytest.raises(FloatingPointError, match=r'at step 7 \(epoch 2\)'):
    step.check_finite(float('nan'), step=7, epoch=2)


def test_step_metrics_are_read_a_window_late_and_name_the_first_non_finite_step():
  metrics = step.StepMetrics(first_step=17, epoch=2, window=4)
  read = [metrics.add({'loss': jnp.float32(k)}) for k in range(8)]
  # the host waits once per window, for the window before the newest
  assert [len(rows) for rows in read] == [0, 0, 0, 0, 0, 0, 0, 4]
  assert read[-1] == [{'step': 17 + k, 'loss': float(k)} for k in range(4)]
  assert [row['step'] for row in metrics.finish()] == [21, 22, 23, 24]
  broken = step.StepMetrics(first_step=1, epoch=1, window=4)
  with pytest.raises(FloatingPointError, match=r'loss inf at step 6 \(epoch 1\)'):
    for k in range(9):
      broken.add({'loss': jnp.float32(np.inf if k in (5, 7) else 0.0)})
    broken.finish()


def test_the_step_returns_gradient_parameter_and_update_norms(batch):
  import optax
  # plain SGD at rate 1: the update is minus the gradient, so both norms agree
  state = step.create_train_state(TINY, jax.random.key(0), SHAPE, tx=optax.sgd(1.0))
  norm = jax.jit(optax.tree.norm)  # eagerly one compile per leaf's shape
  before = norm(state.params)
  new, metrics = jax.jit(functools.partial(step.train_step, loss_fn=losses.cross_entropy))(
      state, batch, jax.random.key(1))
  np.testing.assert_allclose(metrics['l2_updates'], metrics['l2_grads'], rtol=1e-5)
  np.testing.assert_allclose(metrics['l2_params'], norm(new.params), rtol=1e-6)
  assert float(metrics['l2_grads']) > 0 and float(metrics['l2_params']) != float(before)


def test_precise_batch_stats_are_the_training_batches_statistics(batch):
  state = _state()
  waveforms = np.asarray(batch['waveforms'])
  second = waveforms[::-1] * 2 + 1
  precise = step.precise_batch_stats(state, [waveforms, second])
  # The stem BatchNorm sees the stem conv's output: its mean over each batch, averaged.
  stem = lambda x: jax.lax.conv_general_dilated(
      jnp.asarray(x), state.params['stem_conv']['kernel'], (2,), 'SAME', dimension_numbers=('NWC', 'WIO', 'NWC'))
  expected = np.mean([np.mean(stem(waveforms), axis=(0, 1)), np.mean(stem(second), axis=(0, 1))], 0)
  np.testing.assert_allclose(precise.batch_stats['stem_bn']['mean'], expected, rtol=1e-4, atol=1e-5)
  chex.assert_trees_all_equal(precise.params, state.params)


class _TwoMomenta(nn.Module):
  """Two BatchNorms of other momenta than the Keras default."""

  @nn.compact
  def __call__(self, x, *, train=False):
    x = nn.BatchNorm(momentum=0.5, use_running_average=not train, name='first')(x)
    return nn.BatchNorm(momentum=0.9, use_running_average=not train, epsilon=1e-3, name='second')(x)


def test_precise_batch_stats_read_each_layers_momentum():
  state = step.create_train_state(_TwoMomenta(), jax.random.key(0), (4, 5, 2))
  rng = np.random.default_rng(1)
  waveforms = [rng.normal(3.0, 2.0, size=(4, 5, 2)).astype(np.float32) for _ in range(2)]
  stats = step.precise_batch_stats(state, waveforms).batch_stats
  np.testing.assert_allclose(stats['first']['mean'], np.mean([w.mean(axis=(0, 1)) for w in waveforms], 0), rtol=1e-5)
  np.testing.assert_allclose(stats['first']['var'], np.mean([w.var(axis=(0, 1)) for w in waveforms], 0), rtol=1e-4)
  # the second sees the first's standardised output: mean 0, variance var / (var + eps)
  variance = np.mean([(v := w.var(axis=(0, 1))) / (v + 1e-5) for w in waveforms], 0)
  np.testing.assert_allclose(stats['second']['var'], variance, rtol=1e-4)
  np.testing.assert_allclose(stats['second']['mean'], 0.0, atol=1e-5)


def test_background_checkpoint_keeps_the_saved_state_while_later_steps_donate_it(batch, tmp_path):
  from ganet_jax.training.checkpoint import RunCheckpoints
  state, _ = step.jit_train_step(_state(), batch, jax.random.key(1), loss_fn=losses.cross_entropy)
  saved = jax.tree.map(np.array, state)
  with RunCheckpoints(tmp_path) as checkpoints:
    checkpoints.save(1, state, {'epoch': 1})
    for _ in range(2):  # overwrite the saved buffers in place while the write may still run
      state, _ = step.jit_train_step(state, batch, jax.random.key(1), loss_fn=losses.cross_entropy)
  with RunCheckpoints(tmp_path) as checkpoints:
    restored, meta = checkpoints.restore(jax.eval_shape(_state))
  assert meta == {'epoch': 1} and int(restored.step) == 1
  chex.assert_trees_all_equal((restored.params, restored.batch_stats), (saved.params, saved.batch_stats))


def test_best_checkpoint_is_named_after_its_metric_and_old_folders_still_rank(tmp_path):
  import json
  import orbax.checkpoint as ocp
  from ganet_jax.training.checkpoint import BEST, RunCheckpoints
  state = {'w': jnp.zeros(3)}
  target = jax.eval_shape(lambda: state)
  with RunCheckpoints(tmp_path / 'new', selection_metric='event_auc') as checkpoints:
    for epoch, score in ((1, 0.5), (2, 0.7), (3, 0.6)):
      checkpoints.save(epoch, state, {'epoch': epoch}, score)
    assert checkpoints.restore(target, BEST)[1] == {'epoch': 2}
  assert json.loads((tmp_path / 'new' / BEST / '2' / 'metrics' / 'metrics').read_text()) == {
      'validation_event_auc': 0.7}
  # a folder whose best score was always stored as 'validation_accuracy', resumed by a run that selects by AUC
  old = ocp.CheckpointManager((tmp_path / 'old' / BEST).absolute(), options=ocp.CheckpointManagerOptions(
      max_to_keep=1, best_fn=lambda m: m['validation_accuracy'], best_mode='max'))
  old.save(1, args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave({'epoch': 1})),
           metrics={'validation_accuracy': 0.8})
  old.close()
  with RunCheckpoints(tmp_path / 'old', selection_metric='auc') as checkpoints:
    checkpoints.save(2, state, {'epoch': 2}, 0.6)
    assert checkpoints.restore(target, BEST)[1] == {'epoch': 1}
    checkpoints.save(3, state, {'epoch': 3}, 0.9)
    assert checkpoints.restore(target, BEST)[1] == {'epoch': 3}
