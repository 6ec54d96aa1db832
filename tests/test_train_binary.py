"""experiments.train: bad settings fail with a message naming the --config field; a killed run resumes."""

import json
import os
import subprocess
import sys
import time

import pytest

import binary_cases

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BAD_FLAGS = {
    'unknown model': (['--config.model.name=resnet_9000'], '--config.model.name'),
    'negative epochs': (['--config.epochs=-1'], '--config.epochs'),
    'unwritable workdir': (['--config.workdir=/proc/ganet_jax_run'], '--config.workdir'),
    'missing dataset': (['--config.dataset=/nonexistent/prepared'], '--config.dataset'),
    'dataset not prepared': (['--config.dataset=' + ROOT + '/tests'], 'not a prepared data set'),
    'another model with GA-Net fields': (['--config.model.name=cnn_zhu2023'], 'paper.py:cnn_zhu2023'),
    'empty test split': (['--config.split.test_from=2030-01-01'], '--config.split'),
    'unusable compilation cache': (['--compilation_cache=/proc/ganet_jax_cache'], '--compilation_cache'),
}


@pytest.fixture(scope='module')
def outcomes(tmp_path_factory):
  """(exit status, output) of each bad-flag command line, all in one process that imports the binary's libraries once.

  Each case runs as the interpreter would end it (tests/binary_cases.py); the real binary's own
  process, start-up and exit status are the subject of the cache-folder test below.
  """
  workdir = tmp_path_factory.mktemp('bad')
  cases = []
  for name, (flags, _) in BAD_FLAGS.items():
    if not any(f.startswith('--config.workdir') for f in flags):
      flags = flags + [f'--config.workdir={workdir / name.replace(" ", "_")}']
    cases.append([name, flags])
  results = binary_cases.run_in_one_process({'train': cases}, workdir)['train']
  return {name: (r['rc'], r['stdout'] + r['stderr'] + r['traceback']) for name, r in results.items()}


def test_an_unusable_default_cache_folder_only_warns(tmp_path):
  # No flag, no variable, a home that cannot hold ~/.cache: the run goes on (here to the next error).
  env = {k: v for k, v in os.environ.items() if k not in ('GANET_JAX_COMPILATION_CACHE', 'XDG_CACHE_HOME')}
  env.update(JAX_PLATFORMS='cpu', PYTHONPATH=ROOT, HOME='/proc/no_home')
  process = subprocess.run([sys.executable, '-m', 'experiments.train', '--config.dataset=/nonexistent/prepared',
                            f'--config.workdir={tmp_path / "run"}'], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=300)
  output = process.stdout + process.stderr
  assert process.returncode != 0 and '--config.dataset' in output, output[-2000:]
  assert 'no compilation cache: /proc/no_home/.cache/ganet_jax/xla' in output, output[-2000:]


@pytest.mark.parametrize('name', sorted(BAD_FLAGS))
def test_bad_flag_fails_naming_it(outcomes, name):
  returncode, output = outcomes[name]
  assert returncode != 0
  assert BAD_FLAGS[name][1] in output, output[-2000:]
  assert 'Traceback' not in output, output[-2000:]


@pytest.mark.slow  # two processes, each compiling and training
def test_killed_run_resumes_and_writes_the_run_folder(tmp_path):
  """SIGKILL after the first checkpoint, rerun with the same flags: the run completes from epoch 2."""
  workdir = tmp_path / 'run'
  command = [sys.executable, '-m', 'experiments.train', f'--config.workdir={workdir}', '--config.epochs=3',
             '--config.batch_size=8', '--config.model.num_bottlenecks=1', '--config.model.head_features=32',
             '--config.synthetic.samples=256', '--config.synthetic.num_events=14', '--config.learning_rate=1e-3']
  env = {**os.environ, 'JAX_PLATFORMS': 'cpu', 'PYTHONPATH': ROOT}
  first = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  deadline = time.monotonic() + 240
  while not (workdir / 'checkpoints' / 'latest' / '1').is_dir():
    assert first.poll() is None and time.monotonic() < deadline, 'no first checkpoint'
    time.sleep(0.2)
  first.kill()
  first.wait()
  resumed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert resumed.returncode == 0, resumed.stderr[-2000:]
  assert 'resuming from the checkpoint of epoch' in resumed.stderr  # logged (absl logging)
  metrics = json.loads((workdir / 'metrics.json').read_text())
  for key in ('sensitivity', 'specificity', 'accuracy', 'auc', 'confusion', 'n_records', 'events'):
    assert key in metrics
  epochs = [json.loads(line)['epoch'] for line in (workdir / 'epochs.jsonl').read_text().splitlines()]
  assert epochs == [1, 2, 3]
  for name in ('confusion_matrix.png', 'roc_curve.png', 'confidence_histogram.png'):
    assert (workdir / name).read_bytes()[:4] == b'\x89PNG'
