"""Two JAX processes on localhost (CPU, gloo collectives) train-mode forward = one process."""

import pytest
import os
import pathlib
import socket
import subprocess
import sys

import jax
import numpy as np

from multiprocess_case import global_batch, model_and_variables

HERE = pathlib.Path(__file__).parent


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_match_one(tmp_path):
  port = _free_port()
  env = {**os.environ, 'PYTHONPATH': f'{HERE}{os.pathsep}{HERE.parent}'}
  workers = [subprocess.Popen([sys.executable, str(HERE / 'multiprocess_worker.py'), str(i), str(port),
                               str(tmp_path / f'{i}.npz')], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for i in range(2)]
  for worker in workers:
    output, _ = worker.communicate(timeout=240)
    assert worker.returncode == 0, output[-3000:]

  model, variables = model_and_variables()
  _, stats = jax.jit(lambda v, x: model.apply(v, x, train=True, mutable=['batch_stats']))(variables, global_batch())
  expected = [np.asarray(leaf) for leaf in jax.tree.leaves(stats)]
  for i in range(2):
    got = np.load(tmp_path / f'{i}.npz')
    assert len(got.files) == len(expected)
    for name, want in zip(sorted(got.files, key=lambda n: int(n.split('_')[1])), expected):
      np.testing.assert_allclose(got[name], want, rtol=1e-4, atol=1e-6)
