"""Every ``ExperimentConfig`` field does what it says: one case per field, through ``experiment.run``.

Each case changes one field from the base run and shows its effect on the loss, the parameters
after training, the batches the step received, or the run folder's files; or that the field is
refused where it cannot act. The base is a one-block plain CNN, so most cases reuse its compiled
step; a case compiles anew only where the field changes the step (loss, optimizer, model, dtype).
"""

import dataclasses
import json
import pathlib

import jax
import numpy as np
import pytest

from ganet_jax.data.synthetic import make_synthetic
from ganet_jax.errors import ConfigError
from ganet_jax.training import contrastive, experiment
from ganet_jax.training.checkpoint import load_trained
from ganet_jax.training.config import ExperimentConfig

BASE = dict(model='cnn_zhu2023', model_overrides={'widths': (4,), 'pool': 4, 'dense': ()}, epochs=1, batch_size=8,
            learning_rate=1e-2, precise_batch_norm=False)  # precise BN off: one compile less per run
GANET = {'num_bottlenecks': 1, 'head_features': 8, 'cbam_positions': ()}  # the least GA-Net: an encoder and a head


@dataclasses.dataclass
class Outcome:
  """What one run left: its folder, epoch lines, test metrics and probabilities, final variables, batches."""
  workdir: pathlib.Path
  history: list
  metrics: dict
  probabilities: np.ndarray
  variables: dict | None
  batches: list  # (labels, waveforms, devices the batch was spread over) per step

  @property
  def loss(self) -> float:
    return self.history[0]['loss']

  def leaves(self, collection='params') -> np.ndarray:
    return np.concatenate([np.ravel(leaf) for leaf in jax.tree.leaves(self.variables[collection])])

  def tensorboard(self) -> bytes:
    return b''.join(path.read_bytes() for path in (self.workdir / 'tensorboard').glob('events.out.tfevents.*'))


def _records(num_events, samples):
  records = make_synthetic(num_events, seed=1, samples=samples)
  return dataclasses.replace(records, extra={**records.extra, 'network': np.full(len(records), 'XX')})


@pytest.fixture(scope='module')
def data():
  records = _records(14, 128)
  # every other record: both classes in each half (13 tectonic / 3 non-tectonic training records)
  return records.subset(np.arange(0, 32, 2)), records.subset(np.arange(1, len(records), 2))


def _run(workdir, train, test, *, validation=None, **changes) -> Outcome:
  batches = []
  real_step = experiment.jit_train_step

  def recording_step(state, batch, rng, **kwargs):
    batches.append((np.asarray(batch['labels']), np.asarray(batch['waveforms']),
                    len(batch['waveforms'].sharding.device_set)))
    return real_step(state, batch, rng, **kwargs)

  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(experiment, 'jit_train_step', recording_step)
    metrics = experiment.run(ExperimentConfig(**{**BASE, **changes}), train, test, workdir, validation=validation,
                             log=lambda line: None)
  lines = (workdir / 'epochs.jsonl').read_text().splitlines() if (workdir / 'epochs.jsonl').exists() else []
  with open(workdir / 'predictions.csv') as f:
    header = f.readline().strip().split(',')
    probabilities = np.array([float(line.strip().split(',')[header.index('p_tectonic')]) for line in f])
  variables = load_trained(workdir)[1] if (workdir / 'checkpoints').exists() and lines else None
  return Outcome(workdir, [json.loads(line) for line in lines], metrics, probabilities, variables, batches)


@pytest.fixture(scope='module')
def base(data, tmp_path_factory):
  return _run(tmp_path_factory.mktemp('base'), *data)


@pytest.fixture(scope='module')
def pretrained(tmp_path_factory):
  """A pretraining run of GA-Net's encoder, and training and test records of its windows."""
  workdir = tmp_path_factory.mktemp('pretrained')
  config = contrastive.PretrainConfig(model_overrides=dict(GANET), epochs=1, batch_size=8, learning_rate=3e-3)
  records = _records(16, 128).subset(np.arange(16))
  contrastive.pretrain(config, records, workdir, log=lambda line: None)
  return workdir, (records.subset(np.arange(0, 16, 2)), records.subset(np.arange(1, 16, 2)))


def _differs(a, b):
  return not np.allclose(a, b)


def _score_first_epoch_best(monkeypatch):
  """Validation reports whose accuracy is 1 in the first epoch and 0 after: epoch 1 is the best, by design."""
  real = experiment.validation_report
  calls = []

  def report(*args, **kwargs):
    calls.append(1)
    return {**real(*args, **kwargs), 'accuracy': 1.0 if len(calls) == 1 else 0.0}

  monkeypatch.setattr(experiment, 'validation_report', report)


CASES = {}


def case(field):
  def register(check):
    CASES[field] = check
    return check
  return register


@case('model')
def _(base, data, tmp_path, **_):
  other = _run(tmp_path, *data, model='cnn_liu2020')  # the same overrides: flattened, 3-tap convolutions
  shapes = lambda o: [leaf.shape for leaf in jax.tree.leaves(o.variables['params'])]
  assert shapes(other) != shapes(base)


@case('model_overrides')
def _(base, data, tmp_path, **_):
  wider = _run(tmp_path, *data, model_overrides={**BASE['model_overrides'], 'widths': (6,)})
  assert wider.variables['params']['ConvBlock_0']['Conv_0']['kernel'].shape == (7, 3, 6)
  assert base.variables['params']['ConvBlock_0']['Conv_0']['kernel'].shape == (7, 3, 4)


@case('epochs')
def _(base, data, tmp_path, **_):
  longer = _run(tmp_path, *data, epochs=2)
  assert [h['epoch'] for h in longer.history] == [1, 2] and len(longer.batches) == 2 * len(base.batches)
  assert _differs(longer.leaves(), base.leaves())


@case('batch_size')
def _(base, data, tmp_path, **_):
  smaller = _run(tmp_path, *data, batch_size=4)
  assert {labels.shape for labels, _, _ in smaller.batches} == {(4,)} and len(smaller.batches) == 4
  assert {labels.shape for labels, _, _ in base.batches} == {(8,)} and len(base.batches) == 2


@case('learning_rate')
def _(base, data, tmp_path, **_):
  slower = _run(tmp_path, *data, learning_rate=1e-4)
  # Adam moves a parameter by about the rate per step; the classifier's bias starts at 0
  moved = lambda o: np.abs(o.variables['params']['Dense_0']['bias']).max()
  assert moved(slower) <= 2.5e-4 < 2e-3 <= moved(base) <= 2.5e-2


@case('loss')
def _(base, data, tmp_path, **_):
  weighted = _run(tmp_path, *data, loss='weighted_cross_entropy')
  assert weighted.loss != base.loss and _differs(weighted.leaves(), base.leaves())


@case('focal_gamma')
def _(data, tmp_path, **_):
  gammas = [_run(tmp_path / str(gamma), *data, loss='focal', focal_gamma=gamma).loss for gamma in (0.0, 2.0)]
  assert gammas[0] > gammas[1]  # (1 - p_t) ** gamma < 1 shrinks every example's loss


@case('seed')
def _(base, data, tmp_path, **_):
  other = _run(tmp_path, *data, seed=1)
  assert _differs(other.leaves(), base.leaves())
  assert not all(np.array_equal(a[1], b[1]) for a, b in zip(other.batches, base.batches))  # another order


@case('threshold')
def _(base, data, tmp_path, **_):
  everything = _run(tmp_path, *data, threshold=0.0)  # every record is called tectonic
  np.testing.assert_array_equal(everything.probabilities, base.probabilities)
  assert everything.metrics['sensitivity'] == 1.0 and everything.metrics['specificity'] == 0.0
  assert everything.metrics['confusion'] != base.metrics['confusion']


@case('num_devices')
def _(base, data, tmp_path, **_):
  spread = _run(tmp_path, *data, num_devices=2)
  assert {devices for _, _, devices in spread.batches} == {2} and {d for _, _, d in base.batches} == {1}
  np.testing.assert_allclose(spread.loss, base.loss, rtol=1e-5)
  with pytest.raises(ConfigError, match='--config.num_devices: batch_size 8 does not divide over num_devices 3'):
    _run(tmp_path / 'three', *data, num_devices=3)


@case('compute_dtype')
def _(base, data, tmp_path, **_):
  mixed = _run(tmp_path, *data, compute_dtype='bfloat16')
  assert mixed.loss != base.loss and mixed.loss == pytest.approx(base.loss, rel=0.05)
  assert {leaf.dtype for leaf in jax.tree.leaves(mixed.variables)} == {np.dtype('float32')}


@case('precise_batch_norm')
def _(base, data, tmp_path, **_):
  precise = _run(tmp_path, *data, precise_batch_norm=True)
  np.testing.assert_array_equal(precise.leaves(), base.leaves())  # the same training
  assert _differs(precise.leaves('batch_stats'), base.leaves('batch_stats'))  # other statistics


@case('weight_decay')
def _(base, data, tmp_path, **_):
  decayed = _run(tmp_path, *data, weight_decay=0.5)
  assert np.abs(decayed.leaves()).sum() < np.abs(base.leaves()).sum()  # decay pulls weights to 0


@case('lr_schedule')
def _(base, data, tmp_path, **_):
  cosine = _run(tmp_path, *data, lr_schedule='cosine')
  assert cosine.loss == base.loss  # the first step's rate is the peak: the same first loss...
  assert _differs(cosine.leaves(), base.leaves())  # ...the second step's is half of it


@case('warmup_epochs')
def _(base, data, tmp_path, **_):
  warm = _run(tmp_path, *data, warmup_epochs=1.0)
  assert _differs(warm.leaves(), base.leaves())  # the first step's rate is 0


@case('label_smoothing')
def _(base, data, tmp_path, **_):
  smoothed = _run(tmp_path, *data, label_smoothing=0.2)
  assert smoothed.loss != base.loss and _differs(smoothed.leaves(), base.leaves())


@case('balanced_sampling')
def _(base, data, tmp_path, **_):
  balanced = _run(tmp_path, *data, balanced_sampling=True)
  share = lambda o: np.mean(np.concatenate([labels for labels, _, _ in o.batches]) == 1)
  assert share(base) <= 3 / 16 and share(balanced) >= 0.3  # 3 of the 16 training records are non-tectonic


@case('station_balanced_sampling')
def _(base, data, tmp_path, **_):
  by_station = _run(tmp_path, *data, station_balanced_sampling=True)
  assert not all(np.array_equal(a[1], b[1]) for a, b in zip(by_station.batches, base.batches))
  train = data[0]
  with pytest.raises(ConfigError, match='--config.station_balanced_sampling: needs the station'):
    _run(tmp_path / 'no_network', dataclasses.replace(train, extra={'station': train.extra['station']}), data[1],
         station_balanced_sampling=True)


@case('augmentation')
def _(base, data, tmp_path, **_):
  flipped = _run(tmp_path, *data, augmentation={'random_polarity': True})
  pairs = [(a[1], b[1]) for a, b in zip(flipped.batches, base.batches)]
  assert all(np.array_equal(np.abs(a), np.abs(b)) for a, b in pairs)  # the same records, in the same order...
  assert any(not np.array_equal(a, b) for a, b in pairs)  # ...some with their sign flipped


@case('selection_metric')
def _(data, tmp_path, **_):
  train, test = data
  chosen = _run(tmp_path, train, test, validation=test, selection_metric='auc')
  assert b'validation/auc' in chosen.tensorboard()
  with pytest.raises(ConfigError, match="--config.selection_metric: 'auc' acts on validation records"):
    _run(tmp_path / 'none', train, test, selection_metric='auc')


@case('evaluate_best')
def _(data, tmp_path, monkeypatch, **_):
  train, test = data
  _score_first_epoch_best(monkeypatch)
  best = _run(tmp_path / 'best', train, test, validation=test, epochs=2, evaluate_best=True)
  _score_first_epoch_best(monkeypatch)
  last = _run(tmp_path / 'last', train, test, validation=test, epochs=2)
  assert (best.metrics['evaluated_epoch'], last.metrics['evaluated_epoch']) == (1, 2)
  assert _differs(best.probabilities, last.probabilities)
  with pytest.raises(ConfigError, match='--config.evaluate_best: True acts on validation records'):
    _run(tmp_path / 'none', train, test, evaluate_best=True)


@case('early_stopping_patience')
def _(data, tmp_path, monkeypatch, **_):
  train, test = data
  _score_first_epoch_best(monkeypatch)
  stopped = _run(tmp_path, train, test, validation=test, epochs=3, early_stopping_patience=1)
  assert stopped.metrics['epochs_completed'] == 2  # epoch 2 was not better than 1
  with pytest.raises(ConfigError, match='--config.early_stopping_patience: 1 acts on validation records'):
    _run(tmp_path / 'none', train, test, early_stopping_patience=1)


@case('init_from')
def _(tmp_path, pretrained, **_):
  folder, (train, test) = pretrained()
  settings = dict(model='ganet', model_overrides=GANET, epochs=1)  # one epoch from each starting point
  fresh = _run(tmp_path / 'fresh', train, test, **settings)
  transferred = _run(tmp_path / 'transferred', train, test, init_from=str(folder), **settings)
  assert _differs(transferred.probabilities, fresh.probabilities)


@case('freeze_encoder')
def _(tmp_path, pretrained, **_):
  folder, (train, test) = pretrained()
  frozen = _run(tmp_path, train, test, model='ganet', model_overrides=GANET, init_from=str(folder),
                freeze_encoder=True)
  _, encoder = contrastive.load_encoder(folder)
  for name, entry in encoder['params'].items():
    for mine, theirs in zip(jax.tree.leaves(frozen.variables['params'][name]), jax.tree.leaves(entry)):
      np.testing.assert_array_equal(mine, theirs)
  assert np.abs(frozen.variables['params']['classifier']['bias']).max() > 0  # the head trained (its bias starts at 0)


@case('grad_clip_norm')
def _(base, data, tmp_path, **_):
  clipped = _run(tmp_path, *data, grad_clip_norm=1e-10)
  # gradients scaled down to a norm far below Adam's epsilon (1e-8): the steps all but vanish
  moved = lambda o: np.abs(o.variables['params']['Dense_0']['bias']).max()
  assert moved(clipped) < 0.01 * moved(base)


@pytest.mark.parametrize('field', sorted(CASES))
def test_a_field_changes_what_it_says(field, base, data, tmp_path, monkeypatch, request):
  CASES[field](base=base, data=data, tmp_path=tmp_path, monkeypatch=monkeypatch,
               pretrained=lambda: request.getfixturevalue('pretrained'))


def test_every_field_has_its_case():
  assert set(CASES) == {field.name for field in dataclasses.fields(ExperimentConfig)}
