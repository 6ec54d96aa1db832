"""Bad input and faults around runs: stale resumes, shared outputs, meaningless settings, signals and disks.

Each case either ends with one line naming the setting, folder or file and what is
wrong, or is handled correctly. The cases that need a run folder work on copies of
the session's tiny run (``conftest.tiny_run``) and its records.
"""

import dataclasses
import errno
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import time

from absl import app
import ml_collections
import numpy as np
import pytest

import binary_cases
from conftest import tiny_run_inputs
from experiments import binary, faults
from ganet_jax.classify import model_folder
from ganet_jax.data import outputs
from ganet_jax.data.records import load_prepared, save_prepared
from ganet_jax.errors import ConfigError, RecordRejected
from ganet_jax.pretrained import locate
from ganet_jax.training import contrastive, experiment, run_folder

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _quiet(line):
  pass


def _copy(folder, destination):
  shutil.copytree(folder, destination)
  return destination


def _one_line(error):
  message = str(error.value)
  assert '\n' not in message, message
  return message


def _moved_window(records):
  """``records`` re-prepared with the P onset of record 3 picked 0.4 s later."""
  waveforms = np.array(records.waveforms)
  waveforms[3] = np.roll(waveforms[3], 40, axis=0)
  return dataclasses.replace(records, waveforms=waveforms)


def _other_band(records):
  settings = json.loads(json.dumps(records.preprocessing))
  settings['preprocess']['bandpass'] = [1.0, 15.0]
  return dataclasses.replace(records, preprocessing=settings)


# Case: a set re-prepared in place is another set; its run folder does not resume.
@pytest.mark.parametrize('change, named', [(_moved_window, 'data.windows.train'),
                                           (_other_band, 'data.preprocessing.preprocess.bandpass')])
def test_resume_on_changed_windows_is_refused_naming_them(tiny_run, tmp_path, change, named):
  run = _copy(tiny_run, tmp_path / 'run')
  config, train, test = tiny_run_inputs()
  with pytest.raises(ValueError) as error:
    experiment.run(config, change(train), test, run, log=_quiet)
  assert named in _one_line(error) and str(run) in str(error.value)


def test_window_hash_covers_every_window_and_the_noise():
  _, records, _ = tiny_run_inputs()
  noise = np.zeros((len(records), 30, 3), np.float32)
  with_noise = dataclasses.replace(records, noise=noise)
  hashes = {run_folder.windows_hash(records), run_folder.windows_hash(_moved_window(records)),
            run_folder.windows_hash(with_noise)}
  noise[-1, -1, -1] = 1e-6
  hashes.add(run_folder.windows_hash(with_noise))
  assert len(hashes) == 4
  # chunked reads (a record at a time) hash as one read does
  assert run_folder.windows_hash(records, chunk_bytes=1) == run_folder.windows_hash(records)
  assert run_folder.windows_hash(None) is None


def test_run_folder_without_window_hash_still_resumes_and_gains_it(tiny_run, tmp_path):
  run = _copy(tiny_run, tmp_path / 'run')
  saved = json.loads((run / 'config.json').read_text())
  hashes = saved['data'].pop('windows')
  (run / 'config.json').write_text(json.dumps(saved))
  config, train, test = tiny_run_inputs()
  lines = []
  experiment.run(config, train, test, run, log=lines.append)
  assert any('resuming from the checkpoint of epoch 1' in line for line in lines)
  assert json.loads((run / 'config.json').read_text())['data']['windows'] == hashes


def _scalar_steps(run):
  from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
  events = EventAccumulator(str(run / 'tensorboard'))
  events.Reload()
  return {tag: [event.step for event in events.Scalars(tag)] for tag in events.Tags()['scalars']}


def test_tensorboard_holds_every_epoch_once_after_a_kill_and_reruns(tiny_run, tmp_path):
  run = _copy(tiny_run, tmp_path / 'run')
  # killed after the epoch's checkpoint, before its scalars: the resumed run has no epoch left to train
  shutil.rmtree(run / 'tensorboard')
  config, train, test = tiny_run_inputs()
  for _ in range(2):  # the resume, then a rerun of the finished run
    experiment.run(config, train, test, run, log=_quiet)
    steps = _scalar_steps(run)
    assert steps['train/loss'] == [1] and steps['train/learning_rate'] == [1], steps
    assert steps['test/accuracy'] == [1], steps


# Case: outputs that overwrite each other.
def _classify_output(folder):
  folder.mkdir()
  for name in ('predictions.csv', 'predictions_events.csv', 'predictions_unclassified.csv'):
    (folder / name).write_text('record_id,p_tectonic\nr0,0.5\n')
  return folder


@pytest.mark.parametrize('make, named', [
    (_classify_output, 'predictions.csv'),
    (lambda folder: _copy(folder.parent.parent / 'tiny_prepared', folder), 'manifest.csv'),
    (lambda folder: (folder.mkdir(), (folder / 'notes.txt').write_text('mine'), folder)[-1], 'notes.txt'),
])
def test_training_into_a_foreign_folder_is_refused_untouched(tmp_path, make, named):
  _, train, test = tiny_run_inputs()
  config = tiny_run_inputs()[0]
  save_prepared(tmp_path.parent / tmp_path.name / 'tiny_prepared', train.subset(np.arange(2)))
  (tmp_path / 'x').mkdir()
  folder = make(tmp_path / 'x' / 'out')
  before = {p.name: p.read_bytes() for p in folder.iterdir()}
  with pytest.raises(ValueError) as error:
    experiment.run(config, train, test, folder, log=_quiet)
  assert 'not a run folder' in _one_line(error) and named in str(error.value)
  assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_a_run_folder_with_files_a_run_does_not_write_is_refused(tiny_run, tmp_path):
  run = _copy(tiny_run, tmp_path / 'run')
  (run / 'waveforms.npy').write_bytes(b'')
  config, train, test = tiny_run_inputs()
  with pytest.raises(ValueError, match='not a run folder .holds waveforms.npy.'):
    experiment.run(config, train, test, run, log=_quiet)


def test_a_run_folder_being_written_is_refused_naming_the_process(tiny_run, tmp_path):
  run = _copy(tiny_run, tmp_path / 'run')
  config, train, test = tiny_run_inputs()
  with outputs.output_lock(run):
    with pytest.raises(outputs.OutputBusy) as error:
      experiment.run(config, train, test, run, log=_quiet)
  assert f'{run} is being written by process {os.getpid()}' in _one_line(error)
  assert not outputs.lock_path(run).exists()  # released with the block


def test_the_lock_of_a_dead_process_is_taken_over(tmp_path):
  output = tmp_path / 'set'
  dead = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'], capture_output=True, text=True)
  outputs.lock_path(output).write_text(dead.stdout)  # a killed run's lock file, no longer held
  with outputs.output_lock(output, flag='--output'):
    assert outputs.lock_path(output).read_text() == f'{os.getpid()}\n'
    with pytest.raises(outputs.OutputBusy, match=rf'--output={output} is being written by process {os.getpid()}'):
      with outputs.output_lock(output, flag='--output'):
        pass
  assert not outputs.lock_path(output).exists()


# Case: interrupts, full disks and checkpoints of another width end in one line, leaving no staging.
def test_a_checkpoint_of_another_width_is_one_line(tiny_run, tmp_path):
  run = _copy(tiny_run, tmp_path / 'run')
  config, train, test = tiny_run_inputs()
  narrow = dataclasses.replace(config, model_overrides={**config.model_overrides, 'head_features': 16})
  saved = json.loads((run / 'config.json').read_text())
  saved['config']['model_overrides'] = narrow.model_overrides  # the checkpoint stays the 32-wide model's
  (run / 'config.json').write_text(json.dumps(saved))
  with pytest.raises(ValueError) as error:
    experiment.run(narrow, train, test, run, log=_quiet)
  assert 'cannot restore the checkpoint into this model' in _one_line(error) and str(run) in str(error.value)


def test_a_full_disk_during_training_is_one_line_and_leaves_no_staging(tiny_run, tmp_path, monkeypatch):
  run = tmp_path / 'run'
  config, train, test = tiny_run_inputs()  # the tiny run's: its steps are compiled already

  def full_disk(workdir, history):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(workdir / run_folder.EPOCHS_FILE))

  monkeypatch.setattr(run_folder, 'write_history', full_disk)
  with pytest.raises(SystemExit) as stopped:
    with faults.one_line('training'):
      experiment.run(config, train, test, run, log=_quiet)
  message = str(stopped.value.code)
  assert message.startswith('training stopped: ') and 'epochs.jsonl: No space left on device' in message
  assert '\n' not in message
  assert not [p for p in run.rglob('*') if 'tmp' in p.name or p.name.startswith('.')]
  assert not outputs.lock_path(run).exists()


def test_a_full_disk_during_classify_names_the_output_and_leaves_no_staging(tiny_run, shared_data, tmp_path,
                                                                           monkeypatch):
  from ganet_jax.classify import predictions
  shutil.copy(shared_data / 'pnw' / 'waveforms/uw61348817_UW.BHW.EHZ.mseed', tmp_path / 'one.mseed')
  output = tmp_path / 'out' / 'p.csv'

  def full_disk(path, *args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

  monkeypatch.setattr(pathlib.Path, 'write_text', full_disk)
  with pytest.raises(SystemExit) as stopped:
    with faults.one_line('classifying'):
      predictions.classify_files(str(tiny_run), [str(tmp_path / 'one.mseed')], None, output)
  message = str(stopped.value.code)
  assert message.startswith(f'classifying stopped: {output}: No space left on device') and '\n' not in message
  assert not list(output.parent.iterdir())


def test_an_interrupt_is_one_line_with_the_shell_status(capsys):
  with pytest.raises(SystemExit) as stopped:
    with faults.one_line('preparing'):
      raise KeyboardInterrupt
  assert stopped.value.code == faults.INTERRUPTED_STATUS
  err = capsys.readouterr().err
  assert err.startswith('preparing stopped: interrupted') and err.count('\n') == 1


def test_a_failed_staged_write_leaves_the_old_output_and_no_staging(tmp_path):
  output = tmp_path / 'set'
  output.mkdir()
  (output / 'manifest.csv').write_text('old\n')
  with pytest.raises(OSError):
    with outputs.staged_folder(output) as stage:
      (stage / 'manifest.csv').write_text('new, half written')
      raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
  assert (output / 'manifest.csv').read_text() == 'old\n'
  assert sorted(p.name for p in tmp_path.iterdir()) == ['set']


def test_staging_left_by_a_killed_run_is_removed_by_the_next(tmp_path):
  dead = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'], capture_output=True, text=True)
  pid = int(dead.stdout)
  output = tmp_path / 'set'
  for leftover in (f'.set.partial-{pid}', f'.set.replaced-{pid}', f'.predictions.csv.partial-{pid}'):
    (tmp_path / leftover).mkdir() if 'set' in leftover else (tmp_path / leftover).write_text('half')
  (tmp_path / f'.set.partial-{os.getppid()}').mkdir()  # a live process's: kept
  with outputs.staged_folder(output) as stage:
    (stage / 'manifest.csv').write_text('new\n')
  outputs.write_files_together({tmp_path / 'predictions.csv': 'record_id\n'})
  assert sorted(p.name for p in tmp_path.iterdir()) == sorted(['set', 'predictions.csv', f'.set.partial-{os.getppid()}'])


@pytest.fixture(scope='module')
def pnw_copy(shared_data, tmp_path_factory):
  """A copy of ../shared/data/pnw (its table and waveforms)."""
  return _copy(shared_data / 'pnw', tmp_path_factory.mktemp('pnw') / 'pnw')


def _rows(path):
  return path.read_text().splitlines()[1:] if path.exists() else []


def _run_prepare_cases(cases, folder):
  """experiments.prepare's main over [(name, flags)] in one process (tests/prepare_cases.py)."""
  case_file, result_file = folder / 'cases.json', folder / 'results.json'
  case_file.write_text(json.dumps(cases))
  subprocess.run([sys.executable, str(ROOT / 'tests' / 'prepare_cases.py'), str(case_file), str(result_file)],
                 cwd=ROOT, env={**os.environ, 'PYTHONPATH': str(ROOT)}, check=True, timeout=300, capture_output=True)
  return json.loads(result_file.read_text())


@pytest.mark.slow
def test_prepare_refuses_an_output_being_written_and_cleans_a_killed_runs_staging(pnw_copy, tmp_path):
  table = tmp_path / 'two.csv'
  table.write_text(''.join((pnw_copy / 'labels.csv').read_text().splitlines(keepends=True)[:3]))
  busy, fresh = tmp_path / 'busy', tmp_path / 'fresh'
  dead = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'], capture_output=True, text=True)
  (tmp_path / f'.fresh.partial-{int(dead.stdout)}' / 'waveforms.spool').mkdir(parents=True)  # a killed run's
  args = lambda output: [f'--input={pnw_copy}', f'--records={table}', f'--output={output}']
  with outputs.output_lock(busy, flag='--output'):
    results = _run_prepare_cases([['busy', args(busy)], ['fresh', args(fresh)]], tmp_path)
  assert results['busy']['rc'] == 1 and '\n' not in results['busy']['message']
  assert f'--output={busy} is being written by process {os.getpid()}' in results['busy']['message']
  assert not busy.exists()
  assert results['fresh']['rc'] == 0, results['fresh']
  assert len(load_prepared(fresh)) + len(_rows(fresh / 'rejected.csv')) == 2
  assert not [p.name for p in tmp_path.iterdir() if p.name.startswith('.')]


@pytest.mark.slow
def test_an_interrupted_prepare_ends_in_one_line_and_keeps_only_what_a_rerun_resumes(pnw_copy, tmp_path):
  output = tmp_path / 'set'
  command = [sys.executable, '-m', 'experiments.prepare', f'--input={pnw_copy}', '--records=labels.csv',
             f'--output={output}', '--workers=1', '--partition_size=50']
  run = lambda **kwargs: subprocess.Popen(command, cwd=ROOT, env={**os.environ, 'PYTHONPATH': str(ROOT)},
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)
  process = run()
  unfinished = outputs.unfinished_path(output)
  deadline = time.monotonic() + 120
  while not list(unfinished.glob('shard-*')) and process.poll() is None and time.monotonic() < deadline:
    time.sleep(0.02)  # until its first shard is written
  process.send_signal(signal.SIGINT)
  _, err = process.communicate(timeout=60)
  assert process.returncode == faults.INTERRUPTED_STATUS, err
  assert 'Traceback' not in err and err.strip().splitlines()[-1].startswith('preparing stopped: interrupted')
  # no set and no lock: only the unfinished folder, whose finished shards the same command continues from
  assert [path.name for path in tmp_path.iterdir()] == [unfinished.name]
  rerun = run()
  _, err = rerun.communicate(timeout=300)
  assert rerun.returncode == 0, err
  assert sorted(path.name for path in tmp_path.iterdir()) == ['set']


@pytest.mark.slow
def test_classify_refuses_an_output_being_written(tmp_path):
  output = tmp_path / 'predictions.csv'
  with outputs.output_lock(output, flag='--output'):
    done = subprocess.run([sys.executable, '-m', 'experiments.classify', '--pretrained=pnw', f'--input={tmp_path}',
                           f'--output={output}'], cwd=ROOT, env={**os.environ, 'PYTHONPATH': str(ROOT)},
                          capture_output=True, text=True, timeout=120)
  assert done.returncode == 1 and 'Traceback' not in done.stderr
  assert f'--output={output} is being written by process {os.getpid()}' in done.stderr
  assert list(tmp_path.iterdir()) == []


# General rule: a setting that cannot mean anything is refused at start, naming it.
@pytest.mark.parametrize('field, value, message', [
    ('seed', -1, '--config.seed: must be in [0, 4294967295], got -1'),
    ('seed', 2**40, '--config.seed: must be in'),
    ('focal_gamma', float('nan'), '--config.focal_gamma: must be a finite number, got nan'),
    ('learning_rate', float('inf'), '--config.learning_rate: must be a finite number'),
    ('learning_rate', 0.0, '--config.learning_rate: must be > 0'),
    ('weight_decay', float('inf'), '--config.weight_decay: must be a finite number'),
    ('threshold', float('nan'), '--config.threshold: must be a finite number'),
    ('warmup_epochs', float('nan'), '--config.warmup_epochs: must be a finite number'),
    ('warmup_epochs', 5.0, '--config.warmup_epochs: must be in [0, epochs=1]'),
    ('label_smoothing', -0.1, '--config.label_smoothing: must be in [0, 1)'),
    ('epochs', 1.5, '--config.epochs: must be an integer, got 1.5'),
    ('batch_size', True, '--config.batch_size: must be an integer'),
    ('early_stopping_patience', -1, '--config.early_stopping_patience: must be >= 0'),
    ('num_devices', 0, '--config.num_devices: must be >= 1'),
    ('precise_batch_norm', 'no', '--config.precise_batch_norm: must be True or False'),
    ('model_overrides', {'head_features': 16, 'dropout_rate': float('nan')}, '--config.model.dropout_rate: must be finite'),
    ('augmentation', {'max_shift_s': float('inf')}, '--config.augmentation: augmentation max_shift_s must be finite'),
    ('augmentation', {'scale_range': (0.5, float('nan'))}, '--config.augmentation: augmentation scale_range'),
])
def test_a_meaningless_setting_is_refused_before_any_work(tmp_path, field, value, message):
  config, train, test = tiny_run_inputs()
  if field == 'augmentation':
    value = {**config.augmentation, **value}
  with pytest.raises(ConfigError) as error:
    experiment.run(dataclasses.replace(config, **{field: value}), train, test, tmp_path / 'run', log=_quiet)
  assert message in _one_line(error)
  assert not (tmp_path / 'run').exists()


@pytest.mark.parametrize('field, value', [('temperature', float('nan')), ('temperature', 0.0), ('seed', -1),
                                          ('learning_rate', float('inf')), ('projection_dim', 0), ('epochs', 0)])
def test_a_meaningless_pretraining_setting_is_refused(tmp_path, field, value):
  _, records, _ = tiny_run_inputs()
  with pytest.raises(ConfigError, match=rf'--config.pretrain.{field}: must be'):
    contrastive.pretrain(contrastive.PretrainConfig(**{field: value}), records, tmp_path / 'run', log=_quiet)
  assert not (tmp_path / 'run').exists()


# Training sanity: one class, or an encoder pretrained on other windows.
@pytest.mark.parametrize('split', ['training', 'validation'])
def test_one_class_training_or_validation_records_are_refused(tmp_path, split):
  config, train, test = tiny_run_inputs()
  tectonic = train.subset(np.flatnonzero(train.labels == 0))
  records = {'training': (tectonic, None), 'validation': (train, tectonic)}[split]
  with pytest.raises(ValueError) as error:
    experiment.run(dataclasses.replace(config, batch_size=2), records[0], test, tmp_path / 'run',
                   validation=records[1], log=_quiet)
  assert f'the {split} records hold one class or none ({len(tectonic)} tectonic, 0 non-tectonic)' in _one_line(error)


def _pretraining_folder(folder, records, preprocessing):
  """A pretraining run's config.json as ``contrastive.pretrain`` writes it (its checkpoint is not needed)."""
  folder.mkdir()
  (folder / 'config.json').write_text(json.dumps({'kind': 'pretrain', 'data': {
      'input_shape': list(records.waveforms.shape[1:]), 'preprocessing': preprocessing}}))
  return folder


@pytest.mark.parametrize('setting, value, named', [('sampling_rate', 50.0, 'sampling_rate 50.0'),
                                                   ('bandpass', [1.0, 15.0], 'bandpass [1.0, 15.0]'),
                                                   ('window_s', 40.0, 'window_s 40.0')])
def test_an_encoder_pretrained_on_other_windows_is_refused(tmp_path, setting, value, named):
  config, train, test = tiny_run_inputs()
  preprocessing = json.loads(json.dumps(train.preprocessing))
  preprocessing['preprocess'][setting] = value
  encoder = _pretraining_folder(tmp_path / 'pretrained', train, preprocessing)
  with pytest.raises(ConfigError) as error:
    experiment.run(dataclasses.replace(config, init_from=str(encoder)), train, test, tmp_path / 'run', log=_quiet)
  assert '--config.init_from' in _one_line(error) and named in str(error.value)


def test_an_encoder_of_unknown_preprocessing_is_warned_about(tmp_path):
  _, train, _ = tiny_run_inputs()
  encoder = _pretraining_folder(tmp_path / 'pretrained', train, None)
  assert contrastive.check_encoder_data(encoder, train).startswith('WARNING: --config.init_from=')
  assert contrastive.check_encoder_data(_pretraining_folder(tmp_path / 'same', train, train.preprocessing), train) is None
  shorter = train.subset(np.arange(4))
  with pytest.raises(ConfigError, match='windows of shape'):
    contrastive.check_encoder_data(encoder, dataclasses.replace(shorter, waveforms=shorter.waveforms[:, :100]))


# Every binary ends a refusal in one line naming the file, flag or field: no traceback, no usage text.

# A log record (absl's format, or Python's where absl's handler is not installed), e.g. a model card's warnings
_LOG_LINE = re.compile(r'[DIWEF]\d{4} \d\d:\d\d:\d\d\.\d+ |(DEBUG|INFO|WARNING|ERROR|CRITICAL):[\w.]+:')


def _ends_in_one_line(result):
  """The one line a refused run ended with, besides log records."""
  assert result['rc'] != 0 and not result['usage'] and not result['traceback'], result
  lines = [line for line in result['stderr'].strip().splitlines() if not _LOG_LINE.match(line)]
  assert len(lines) == 1 and '\\' not in lines[0], result['stderr']
  return lines[0]


@pytest.fixture(scope='module')
def refusal_inputs(tmp_path_factory):
  """A records folder with a semicolon-separated table, a file where a folder belongs, a config of 42, a foreign folder."""
  folder = tmp_path_factory.mktemp('refusals')
  (folder / 'in').mkdir()
  (folder / 'in' / 'table.csv').write_text('file;event_id;event_type;p_time\na.mseed;e1;earthquake;2020-01-01\n')
  (folder / 'a_file').write_text('')
  (folder / 'config42.py').write_text('def get_config():\n  return 42\n')
  (folder / 'foreign').mkdir()
  (folder / 'foreign' / 'notes.txt').write_text('mine')
  (folder / 'list_card').mkdir()
  (folder / 'list_card' / 'card.json').write_text('[]')
  (folder / 'in' / 'empty.csv').write_text('file,event_id,origin_time\n')
  fifo_model = folder / 'fifo_model'
  shutil.copytree(locate('pnw'), fifo_model)
  (fifo_model / 'member_0.json').unlink()
  os.mkfifo(fifo_model / 'member_0.json')  # a reader of it would block forever
  return folder


TRAIN_REFUSALS = [
    ('misspelt_field_with_config', ['--config=experiments/configs/small.py', '--config.learning_rat=1e-3'],
     "--config.learning_rat=1e-3: no field 'learning_rat' in the config (see experiments/configs/small.py); "
     'did you mean --config.learning_rate?'),
    ('misspelt_field', ['--config.learning_rat=1e-3'],
     "--config.learning_rat=1e-3: no field 'learning_rat' in the config (see experiments/configs/paper.py); "
     'did you mean --config.learning_rate?'),
    ('config_of_42', ['--config={d}/config42.py'], "--config={d}/config42.py: get_config() returned int '42', not an "
                                                   'ml_collections.ConfigDict'),
    ('fewer_than_batch_size', ['--config=experiments/configs/small.py', '--config.batch_size=100000',
                               '--config.workdir={d}/run'], 'training records are fewer than batch_size 100000'),
    ('run_folder_of_other_files', ['--config=experiments/configs/small.py', '--config.workdir={d}/foreign'],
     '{d}/foreign: not a run folder (holds notes.txt'),
    ('workdir_not_writable', ['--config=experiments/configs/small.py', '--config.workdir={d}/a_file/run'],
     '--config.workdir: {d}/a_file/run: not writable ({d}/a_file is a file)'),
    ('zero_epochs', ['--config=experiments/configs/small.py', '--config.epochs=0', '--config.workdir={d}/run0'],
     '--config.epochs: must be >= 1, got 0'),
]
CLASSIFY_REFUSALS = [
    ('unknown_pretrained', ['--pretrained=nonexistent'], "no pretrained model 'nonexistent'; shipped: pnw"),
    ('card_is_a_list', ['--pretrained={d}/list_card'], '{d}/list_card/card.json: holds a JSON list, not the object'),
    ('semicolon_table', ['--pretrained=pnw', '--records=table.csv'], '{d}/in/table.csv: records table has no file column'),
    ('output_under_a_file', ['--pretrained=pnw', '--output={d}/a_file/p.csv'], '{d}/a_file is a file, not a folder'),
    ('table_without_rows', ['--pretrained=pnw', '--records=empty.csv'],
     '--records: {d}/in/empty.csv has no rows: nothing to classify'),
    ('member_is_a_fifo', ['--pretrained={d}/fifo_model'],
     '{d}/fifo_model/member_0.json: not a regular file (a FIFO): only regular files are read'),
]
PREPARE_REFUSALS = [
    ('semicolon_table', ['--records=table.csv', '--output={d}/prepared'],
     '{d}/in/table.csv: records table has no file column'),
    ('output_under_a_file', ['--records=table.csv', '--output={d}/a_file/prepared'], '{d}/a_file is a file, not a folder'),
    ('duplicate_split_names', ['--records=table.csv', '--output={d}/prepared', '--random_split=0.5,0.5',
                               '--split_names=train,train'],
     '--split_names=train,train: each split needs a name of its own'),
]


@pytest.fixture(scope='module')
def refusal_results(refusal_inputs):
  d = refusal_inputs
  fill = lambda args: [arg.format(d=d) for arg in args]
  inputs = [f'--input={d}/in']
  classify_output = [f'--output={d}/out/p.csv']
  return binary_cases.run_in_one_process({
      'train': [[name, fill(args)] for name, args, _ in TRAIN_REFUSALS],
      'classify': [[name, inputs + classify_output + fill(args)] for name, args, _ in CLASSIFY_REFUSALS],
      'prepare': [[name, inputs + fill(args)] for name, args, _ in PREPARE_REFUSALS],
  }, d)


@pytest.mark.parametrize('binary, name, message', [
    *[('train', name, message) for name, _, message in TRAIN_REFUSALS],
    *[('classify', name, message) for name, _, message in CLASSIFY_REFUSALS],
    *[('prepare', name, message) for name, _, message in PREPARE_REFUSALS],
])
def test_a_refusal_ends_the_binary_in_one_line(refusal_results, refusal_inputs, binary, name, message):
  assert message.format(d=refusal_inputs) in _ends_in_one_line(refusal_results[binary][name])


def test_a_refused_train_creates_no_run_folder(refusal_results, refusal_inputs):
  for name in ('fewer_than_batch_size', 'zero_epochs'):
    assert refusal_results['train'][name]['rc'] == 1
  assert not (refusal_inputs / 'run').exists() and not (refusal_inputs / 'run0').exists()


def test_the_documented_none_validation_split_is_taken(tmp_path):
  from experiments.configs import small
  from ganet_jax.data.dataset import load_split
  config = small.get_config()
  config.split.validation_from = 'None'  # as --config.split.validation_from=None gives it
  split = load_split(config)
  assert split.validation is None and len(split.train) and len(split.test)


@pytest.mark.parametrize('error, line', [
    (ValueError('--input=x: does not exist'), '--input=x: does not exist'),
    (ConfigError('epochs', 'must be >= 0, got -1'), '--config.epochs: must be >= 0, got -1'),
    (RecordRejected('r1: flat trace'), 'r1: flat trace'),
    (FileNotFoundError('--input: y does not exist'), '--input: y does not exist'),
    (ValueError('first\nsecond'), 'first second'),
    (PermissionError(errno.EACCES, 'Permission denied', '/ro/out'), 'work stopped: /ro/out: Permission denied'),
    (FloatingPointError('loss is nan at epoch 1, step 3'), 'work stopped: loss is nan at epoch 1, step 3'),
])
def test_the_wrapper_ends_each_kind_of_refusal_in_one_line(error, line):
  with pytest.raises(SystemExit) as stopped:
    with faults.one_line('work'):
      raise error
  assert stopped.value.code == line


def test_positional_arguments_are_a_usage_error():
  with pytest.raises(app.UsageError, match='unexpected arguments'):
    binary.start(['binary', 'stray'])


def test_a_config_that_is_not_a_configdict_is_named():
  with pytest.raises(ValueError, match=r"--config=c.py: get_config\(\) returned list '\[1\]'"):
    binary.checked_config([1], 'c.py')
  config = ml_collections.ConfigDict({'a': 1})
  assert binary.checked_config(config, 'c.py') is config


def test_a_card_of_the_wrong_form_is_named(tmp_path):
  for name, text, message in [('list', '[1, 2]', 'holds a JSON list'), ('text', '{"format": 1,', 'not JSON'),
                              ('members', '{"format": 1, "members": 3}', "input_shape '<missing>'")]:
    (tmp_path / name).mkdir()
    (tmp_path / name / 'card.json').write_text(text)
    with pytest.raises(ValueError, match=message) as error:
      model_folder.read(tmp_path / name)
    assert str(tmp_path / name / 'card.json') in str(error.value)


def _edit(card, field, value):
  """``card`` with ``field`` (dotted, list indices as numbers) set to ``value``, or removed for ``_DROP``."""
  *parents, last = [int(key) if key.isdigit() else key for key in field.split('.')]
  target = card
  for key in parents:
    target = target[key]
  if value is _DROP:
    del target[last]
  else:
    target[last] = value


_DROP = object()
CARD_EDITS = [
    ('threshold', float('nan'), 'threshold nan: must be a number strictly between 0 and 1'),
    ('threshold', 2.0, 'threshold 2.0: must be a number strictly between 0 and 1'),
    ('threshold', '0.5', "threshold '0.5': must be a number"),
    ('threshold', _DROP, "threshold '<missing>'"),
    ('format', True, 'format True; this version reads 1'),
    ('input_shape', [10000, 3, 1], 'input_shape [10000, 3, 1]: must be [samples, 3]'),
    ('input_shape', [10000], 'input_shape [10000]: must be [samples, 3]'),
    ('input_shape', [5000, 3], 'preprocessing.preprocess.window_s 100.0: differs from input_shape [5000, 3]'),
    ('input_shape', [10 ** 9, 3], 'are more than 3600 s'),
    ('components', 'ZZ', "components 'ZZ': must be letters of 'ZNE', each once"),
    ('components', 7, 'components 7'),
    ('preprocessing', _DROP, "preprocessing '<missing>': must be the training set's settings"),
    ('preprocessing.preprocess.bandpass', '1-15', "preprocessing.preprocess.bandpass '1-15': must be null or [low Hz"),
    ('preprocessing.preprocess.detrend_degree', _DROP, 'preprocessing.preprocess.detrend_degree'),
    ('preprocessing.preprocess.sampling_rate', -1, 'preprocessing: settings this version cannot rebuild '
                                                   '(ValueError: --sampling_rate=-1'),
    ('preprocessing.picker.sta_s', _DROP, "preprocessing.picker.sta_s '<missing>'"),
    ('preprocessing.picker.threshold', True, 'preprocessing.picker.threshold True'),
    ('preprocessing.p_fallback', 'guess', "preprocessing.p_fallback 'guess': must be one of travel_time, none"),
    ('aggregation', {}, 'event aggregation {}'),
    ('limits', {'a': 1}, 'limits'),
    ('description', 3, 'description 3: must be a text'),
    ('members.0.file', '../card.json', "members.0.file '../card.json': must be the name of a file in the model "
                                       'folder'),
    ('members.0.sha256', 'abc', "members.0.sha256 'abc': must be the member file's SHA-256"),
    ('members.0.kind', 'network', "members.0.kind 'network': differs from the card's kind 'physics'"),
    ('members.0.name', '', "members.0.name '': must be a text"),
    ('members', 3, 'members must be a list of {"file", "sha256", ...} objects'),
]


@pytest.mark.parametrize('field, value, message', CARD_EDITS)
def test_a_damaged_card_is_refused_on_load_naming_the_field(tmp_path, field, value, message):
  from ganet_jax.classify import Classifier
  from ganet_jax.pretrained import locate
  folder = tmp_path / 'model'
  shutil.copytree(locate('pnw'), folder)
  card = json.loads((folder / 'card.json').read_text())
  _edit(card, field, value)
  (folder / 'card.json').write_text(json.dumps(card))
  with pytest.raises(ValueError) as refused:
    Classifier.pretrained(str(folder))
  line = str(refused.value)
  assert line.startswith(f'{folder / "card.json"}: ') and message.replace('members.0', 'members[0]') in line, line
  assert '\n' not in line


def _resign(folder, card, index, data):
  """Writes member ``index``'s file and its SHA-256 into ``card`` (the card file too)."""
  import hashlib
  (folder / card['members'][index]['file']).write_bytes(data)
  card['members'][index]['sha256'] = hashlib.sha256(data).hexdigest()
  (folder / 'card.json').write_text(json.dumps(card))


def test_a_physics_member_holding_nan_or_too_few_weights_is_refused_before_any_record(tmp_path):
  from ganet_jax.pretrained import locate
  folder = tmp_path / 'model'
  shutil.copytree(locate('pnw'), folder)
  card = json.loads((folder / 'card.json').read_text())
  saved = json.loads((folder / card['members'][0]['file']).read_text())
  _resign(folder, card, 0, json.dumps({**saved, 'weights': [float('nan')] + saved['weights'][1:]}).encode())
  with pytest.raises(ValueError, match='member_0.json: holds NaN/inf'):
    model_folder.read(folder)
  _resign(folder, card, 0, json.dumps({**saved, **{k: saved[k][:3] for k in ('mean', 'scale', 'weights')}}).encode())
  with pytest.raises(ValueError, match=r"member_0.json: feature set 'bands\+ratios' gives \d+ features on the card's "
                                       r'input \[10000, 3\] at 100 Hz; the model holds 3 weights'):
    model_folder.read(folder)


def test_a_network_member_with_nan_variables_is_refused_and_a_nan_probability_is_never_a_decision(tiny_run, tmp_path):
  import jax
  from ganet_jax.classify import Classifier, export_pretrained
  classifier = Classifier.from_checkpoint(tiny_run)
  member = classifier.members[0]
  poisoned = jax.tree.map(lambda leaf: np.full_like(leaf, np.nan), member.variables)
  folder = export_pretrained(tiny_run, tmp_path / 'model')
  card = json.loads((folder / 'card.json').read_text())
  import flax
  _resign(folder, card, 0, flax.serialization.to_bytes(poisoned))
  with pytest.raises(ValueError, match='member_0.msgpack: its variables hold NaN or inf'):
    model_folder.read(folder)
  # a member that gives NaN at prediction time (loaded otherwise): an error naming the window, no probability
  nan_classifier = dataclasses.replace(classifier, members=(dataclasses.replace(member, variables=poisoned),))
  windows = np.random.default_rng(0).normal(size=(2, *member.input_shape)).astype(np.float32)
  with pytest.raises(ValueError, match=r'gives probability nan for window 0 \(2 non-finite in all\).*no decision'):
    nan_classifier.probabilities(windows)
  with pytest.raises(ValueError, match='for record r1'):
    nan_classifier.member_probabilities(windows, names=['record r1', 'record r2'])
