"""experiments.train: bad flags fail with a message naming the flag."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BAD_FLAGS = {
    'unknown model': (['--model=resnet_9000'], '--model'),
    'negative epochs': (['--epochs=-1'], '--epochs'),
    'unwritable workdir': (['--workdir=/proc/ganet_jax_run'], '--workdir'),
    'missing dataset': (['--dataset=/nonexistent/prepared'], '--dataset'),
    'dataset not prepared': (['--dataset=' + ROOT + '/tests'], 'manifest.csv'),
    'bad overrides': (['--model_overrides=[1]'], '--model_overrides'),
}


@pytest.fixture(scope='module')
def outcomes(tmp_path_factory):
  """All bad-flag runs started at once: each pays Python + JAX start-up, not training."""
  workdir = tmp_path_factory.mktemp('bad')
  env = {**os.environ, 'JAX_PLATFORMS': 'cpu', 'PYTHONPATH': ROOT}
  processes = {}
  for name, (flags, _) in BAD_FLAGS.items():
    if not any(f.startswith('--workdir') for f in flags):
      flags = flags + [f'--workdir={workdir / name.replace(" ", "_")}']
    processes[name] = subprocess.Popen([sys.executable, '-m', 'experiments.train', *flags], cwd=ROOT, env=env,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  return {name: (p.wait(timeout=300), p.stdout.read() + p.stderr.read()) for name, p in processes.items()}


@pytest.mark.parametrize('name', sorted(BAD_FLAGS))
def test_bad_flag_fails_naming_it(outcomes, name):
  returncode, output = outcomes[name]
  assert returncode != 0
  assert BAD_FLAGS[name][1] in output, output[-2000:]
  assert 'Traceback' not in output, output[-2000:]
