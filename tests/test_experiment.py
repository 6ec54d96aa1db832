"""The run function: outputs, resume after interruption, restore in a fresh process, padding."""

import dataclasses
import json
import struct
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

import ganet_jax

from ganet_jax.data.splits import chronological_split
from ganet_jax.data.synthetic import make_synthetic
from ganet_jax.evaluation import predict
from ganet_jax.training import experiment
from ganet_jax.training.checkpoint import load_trained
from ganet_jax.training.config import ExperimentConfig

DATA = dict(num_events=14, seed=1, samples=256)
# the least GA-Net (an encoder and a head, no attention): the run's machinery is under test here, and the
# attention modules lengthen every compile (the session's tiny_run trains GA-Net with them)
CONFIG = dict(model_overrides={'num_bottlenecks': 1, 'head_features': 8, 'cbam_positions': ()}, epochs=3,
              batch_size=8, learning_rate=1e-3)
# a one-block plain CNN for the settings that act alike on any network: its compiles take a second
CNN = dict(CONFIG, model='cnn_zhu2023', model_overrides={'widths': (4,), 'pool': 4, 'dense': ()},
           precise_batch_norm=False)
TIMING = ('test_records_per_second', 'records_per_second', 'seconds', 'peak_rss_mib')


def _split():
  records = make_synthetic(**DATA)
  # validation from mid-2014: both classes in every split (a one-class split is refused)
  splits = chronological_split(records, ['2014-06-01', '2017-01-01'], ('train', 'validation', 'test'))
  return [records.subset(splits[name]) for name in ('train', 'validation', 'test')]


@pytest.fixture(scope='module')
def data():
  return _split()


@pytest.fixture(scope='module')
def finished(data, tmp_path_factory):
  """An uninterrupted run with validation data."""
  train, validation, test = data
  workdir = tmp_path_factory.mktemp('uninterrupted')
  result = experiment.run(ExperimentConfig(**CONFIG), train, test, workdir,
                          validation=validation, log=lambda line: None)
  return workdir, result


def _without_timing(value):
  """JSON text without the timing fields (NaN == NaN as text)."""
  drop = lambda v: {k: drop(x) for k, x in v.items() if k not in TIMING} if isinstance(v, dict) else v
  return json.dumps(drop(value), sort_keys=True)


def test_run_writes_metrics_history_checkpoints_and_plots(finished):
  workdir, result = finished
  written = json.loads((workdir / 'metrics.json').read_text())
  for key in ('sensitivity', 'specificity', 'accuracy', 'auc', 'confusion', 'n_records', 'events', 'confidence'):
    assert key in written
  assert set(written['confusion']) == {'tp', 'fn', 'fp', 'tn'}
  assert written['peak_rss_mib'] > 50  # the process's peak, in MiB
  assert sum(written['confusion'].values()) == written['n_records'] == result['n_records']
  epochs = [json.loads(line) for line in (workdir / 'epochs.jsonl').read_text().splitlines()]
  assert [e['epoch'] for e in epochs] == [1, 2, 3] and all('validation' in e for e in epochs)
  assert sorted(p.name for p in (workdir / 'checkpoints' / 'latest').iterdir()) == ['2', '3']
  assert len(list((workdir / 'checkpoints' / 'best').iterdir())) == 1
  for name in ('confusion_matrix.png', 'roc_curve.png', 'confidence_histogram.png'):
    assert (workdir / name).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def _tensorboard_scalars(directory):
  """{tag: [(step, value)]} of the TensorBoard event files in ``directory``, read record by record.

  An event file is TFRecord framing (length, its CRC, the serialized ``Event``, its CRC) around
  TensorBoard's protobuf, which tensorboardX ships.
  """
  from tensorboardX.proto import event_pb2
  scalars = {}
  for path in sorted(directory.glob('events.out.tfevents.*')):
    data, offset = path.read_bytes(), 0
    while offset < len(data):
      (length,) = struct.unpack('<Q', data[offset:offset + 8])
      event = event_pb2.Event.FromString(data[offset + 12:offset + 12 + length])
      offset += 12 + length + 4
      for value in event.summary.value:
        scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
  return scalars


def test_run_writes_tensorboard_scalars_per_epoch(finished):
  workdir, result = finished
  scalars = _tensorboard_scalars(workdir / 'tensorboard')
  epochs = [json.loads(line) for line in (workdir / 'epochs.jsonl').read_text().splitlines()]
  for tag, key in (('train/loss', 'loss'), ('train/accuracy', 'accuracy')):
    assert scalars[tag] == [(e['epoch'], pytest.approx(e[key], rel=1e-6)) for e in epochs]
  assert scalars['validation/accuracy'] == [(e['epoch'], pytest.approx(e['validation']['accuracy'], rel=1e-6))
                                            for e in epochs]
  assert scalars['train/learning_rate'] == [(e['epoch'], pytest.approx(CONFIG['learning_rate'])) for e in epochs]
  assert scalars['test/accuracy'] == [(result['evaluated_epoch'], pytest.approx(result['accuracy'], rel=1e-6))]
  # per step, on the step axis: the loss (whose epoch means are the epoch lines) and the norms
  steps = _tensorboard_scalars(workdir / 'tensorboard' / 'steps')
  per_epoch = epochs[0]['step']
  assert [step for step, _ in steps['train_step/l2_grads']] == list(range(1, 3 * per_epoch + 1))
  for e in epochs:
    losses = [value for step, value in steps['train_step/loss'] if (e['epoch'] - 1) * per_epoch < step <= e['step']]
    assert np.mean(losses) == pytest.approx(e['loss'], rel=1e-5)
  assert all(value > 0 for name in ('l2_grads', 'l2_params', 'l2_updates') for _, value in steps[f'train_step/{name}'])


def test_interrupted_run_resumes_to_identical_metrics(data, finished, tmp_path):
  train, validation, test = data

  class Killed(Exception):
    pass

  def kill_after_first_epoch(line):
    raise Killed(line)

  config = ExperimentConfig(**CONFIG)
  with pytest.raises(Killed):
    experiment.run(config, train, test, tmp_path, validation=validation, log=kill_after_first_epoch)
  assert not (tmp_path / 'metrics.json').exists()
  lines = []
  resumed = experiment.run(config, train, test, tmp_path, validation=validation, log=lines.append)
  assert lines[0].startswith('resuming from the checkpoint of epoch 1')
  assert _without_timing(resumed) == _without_timing(finished[1])
  history = lambda w: [_without_timing(json.loads(l)) for l in (w / 'epochs.jsonl').read_text().splitlines()]
  assert history(tmp_path) == history(finished[0])
  assert (tmp_path / 'predictions.csv').read_text() == (finished[0] / 'predictions.csv').read_text()


def test_workdir_of_another_run_is_refused(data, finished):
  train, validation, test = data
  with pytest.raises(ValueError, match=r'other settings or data \(config.seed: 0 -> 5 in '):
    experiment.run(ExperimentConfig(**{**CONFIG, 'seed': 5}), train, test, finished[0],
                   validation=validation)


@pytest.mark.slow
def test_checkpoint_restores_in_a_fresh_process(finished, tmp_path):
  workdir, _ = finished
  script = textwrap.dedent(f"""
      import numpy as np, sys
      sys.path.insert(0, {str(__import__('pathlib').Path(__file__).parent)!r})
      from test_experiment import _split
      from ganet_jax.evaluation.predict import predict_probabilities
      from ganet_jax.training.checkpoint import load_trained
      model, variables, epoch = load_trained({str(workdir)!r})
      assert epoch == 3, epoch
      np.save({str(tmp_path / 'p.npy')!r}, predict_probabilities(model, variables, _split()[2], batch_size=8))
      """)
  subprocess.run([sys.executable, '-c', script], check=True, env={'JAX_PLATFORMS': 'cpu', **__import__('os').environ})
  written = np.loadtxt(workdir / 'predictions.csv', delimiter=',', skiprows=1, usecols=4)
  np.testing.assert_allclose(np.load(tmp_path / 'p.npy'), written, atol=1e-6)


def test_padded_last_batch_gives_the_same_probabilities_without_recompiling(data, finished):
  model, variables, _ = load_trained(finished[0])
  test = data[2]
  before = predict._p_tectonic._cache_size()
  by_five = predict.predict_probabilities(model, variables, test, batch_size=5)
  after_five = predict._p_tectonic._cache_size()
  whole = predict.predict_probabilities(model, variables, test, batch_size=len(test))
  assert len(test) % 5 and after_five - before <= 1  # one shape for full and padded batches
  np.testing.assert_allclose(by_five, whole, atol=1e-6)


def test_non_finite_loss_stops_the_run_naming_its_step(data, tmp_path):
  from ganet_jax.data.loader import epoch_order
  train, _, test = data
  batch_size = CONFIG['batch_size']
  # one broken record, in the second batch of epoch 1: step 2 is the first whose loss is NaN
  position = batch_size + 3
  waveforms = np.array(train.waveforms)
  waveforms[epoch_order(len(train), seed=0, epoch=1)[position], 10] = np.nan
  broken = dataclasses.replace(train, waveforms=waveforms)
  # CapsNet's squash carries the NaN into every logit; in a jitted network of BatchNorm and ReLU (GA-Net
  # without its attention after the flatten, the plain CNNs) the NaN batch statistics leave the ReLUs as
  # zeros, and the loss stays finite
  config = ExperimentConfig(**{**CONFIG, 'model': 'capsnet', 'model_overrides': {}})
  with pytest.raises(FloatingPointError, match=r'non-finite training loss nan at step 2 \(epoch 1\)'):
    experiment.run(config, broken, test, tmp_path, log=lambda line: None)


def test_label_smoothing_reaches_the_loss_and_the_parameters(data, tmp_path):
  """One step on every training record: the smoothed loss is (1 - e) CE + e * mean_c(-log p_c), linear in e."""
  train, _, test = data
  train = train.subset(np.arange(len(train) - CNN['batch_size'], len(train)))  # one batch, both classes
  assert set(train.labels) == {0, 1}
  losses, after = {}, {}
  for smoothing in (0.0, 0.1, 0.5):
    config = ExperimentConfig(**{**CNN, 'epochs': 1, 'label_smoothing': smoothing})
    experiment.run(config, train, test, tmp_path / str(smoothing), log=lambda line: None)
    losses[smoothing] = json.loads((tmp_path / str(smoothing) / 'epochs.jsonl').read_text())['loss']
    params = load_trained(tmp_path / str(smoothing))[1]['params']
    after[smoothing] = np.concatenate([np.ravel(leaf) for leaf in jax.tree.leaves(params)])
  # the same initial logits in each run, so the three losses lie on one line through e = 0
  assert losses[0.1] != losses[0.0]
  assert (losses[0.5] - losses[0.0]) == pytest.approx(5 * (losses[0.1] - losses[0.0]), rel=1e-3)
  assert not np.allclose(after[0.0], after[0.1]) and not np.allclose(after[0.1], after[0.5])


def test_two_runs_of_one_setting_compile_the_train_step_once(data, tmp_path):
  from ganet_jax.training.step import jit_train_step
  train, _, test = data
  config = ExperimentConfig(**{**CNN, 'epochs': 1, 'loss': 'focal', 'focal_gamma': 1.5})
  before = jit_train_step._cache_size()
  experiment.run(config, train, test, tmp_path / 'one', log=lambda line: None)
  compiled = jit_train_step._cache_size()
  experiment.run(dataclasses.replace(config, seed=1), train, test, tmp_path / 'two', log=lambda line: None)
  assert compiled - before == 1 and jit_train_step._cache_size() == compiled


def test_a_folder_made_by_code_that_ignored_a_setting_in_use_is_refused(data, tmp_path):
  train, _, test = data
  config = ExperimentConfig(**{**CNN, 'epochs': 1, 'label_smoothing': 0.1})
  experiment.run(config, train, test, tmp_path, log=lambda line: None)
  saved = json.loads((tmp_path / 'config.json').read_text())
  assert saved['code']['library_version'] == ganet_jax.__version__
  assert saved['code']['git_commit'] is None or len(saved['code']['git_commit']) == 40
  del saved['code']  # as the versions before 0.2.0 wrote it, when smoothing never reached the loss
  (tmp_path / 'config.json').write_text(json.dumps(saved))
  with pytest.raises(ValueError, match=r'made by ganet_jax 0\.1\.0 with --config\.label_smoothing=0\.1'):
    experiment.run(config, train, test, tmp_path, log=lambda line: None)


RECIPE = dict(CONFIG, epochs=4, weight_decay=1e-4, lr_schedule='cosine', warmup_epochs=1.0, label_smoothing=0.1,
              balanced_sampling=True, selection_metric='event_auc', evaluate_best=True, early_stopping_patience=2,
              augmentation={'max_shift_s': 0.2, 'scale_range': [0.5, 2.0], 'random_polarity': True,
                            'snr_db_range': [5.0, 30.0], 'channel_dropout': 0.3})


@pytest.mark.slow  # three runs of the recipe
def test_small_data_recipe_resumes_identically_and_selects_by_validation(data, tmp_path):
  """Augmented batches, balanced order, AdamW + cosine, selection and early stopping all replay on resume."""
  train, _, test = data
  validation = test  # the test years: more events of both classes for the selection to tell apart
  config = ExperimentConfig(**RECIPE)
  whole = experiment.run(config, train, test, tmp_path / 'whole', validation=validation, log=lambda line: None)
  history = [json.loads(l) for l in (tmp_path / 'whole' / 'epochs.jsonl').read_text().splitlines()]
  scores = [-1.0 if h['validation']['event_auc'] is None else h['validation']['event_auc'] for h in history]
  assert 'event_balanced_accuracy' in history[0]['validation']
  assert whole['epochs_completed'] == len(history) <= 4
  best = len(scores) - 1 - int(np.argmax(scores[::-1]))  # ties go to the later epoch
  assert whole['evaluated_epoch'] == history[best]['epoch']
  scalars = _tensorboard_scalars(tmp_path / 'whole' / 'tensorboard')
  assert [step for step, _ in scalars['validation/event_auc']] == [
      h['epoch'] for h in history if h['validation']['event_auc'] is not None]
  # linear warm-up over epoch 1 (the rate of its last step), then the cosine decay
  steps = len(train) // RECIPE['batch_size']
  rates = [rate for _, rate in scalars['train/learning_rate']]
  assert rates[0] == pytest.approx(RECIPE['learning_rate'] * (steps - 1) / steps, rel=1e-5)
  assert all(later < earlier for earlier, later in zip(rates[1:], rates[2:]))
  if len(history) < 4:  # stopped early: patience epochs after the best
    assert len(history) - (best + 1) == 2

  class Killed(Exception):
    pass

  def kill(line):
    raise Killed(line)

  with pytest.raises(Killed):
    experiment.run(config, train, test, tmp_path / 'resumed', validation=validation, log=kill)
  resumed = experiment.run(config, train, test, tmp_path / 'resumed', validation=validation, log=lambda line: None)
  assert _without_timing(resumed) == _without_timing(whole)
  # the AdamW run's checkpoint restores (its optimizer state differs from Adam's)
  _, _, epoch = load_trained(tmp_path / 'whole')
  assert epoch == len(history)


def test_recipe_settings_are_checked_by_name():
  from ganet_jax.errors import ConfigError
  for bad, field in [(dict(lr_schedule='step'), 'lr_schedule'), (dict(label_smoothing=1.0), 'label_smoothing'),
                     (dict(selection_metric='f2'), 'selection_metric'), (dict(weight_decay=-1.0), 'weight_decay'),
                     (dict(augmentation={'scale_range': [2.0, 1.0]}), 'augmentation'),
                     (dict(augmentation={'nope': 1}), 'augmentation'), (dict(warmup_epochs=9.0), 'warmup_epochs')]:
    with pytest.raises(ConfigError, match=f'--config.{field}'):
      experiment.check_config(ExperimentConfig(**{**CONFIG, **bad}))
