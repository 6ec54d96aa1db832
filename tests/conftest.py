"""Shared test fixtures. Tests run on CPU with small shapes."""

import csv
import fcntl
import os
import pathlib
import shutil
import tempfile

os.environ.setdefault('JAX_PLATFORMS', 'cpu')
# One compilation cache per test run, in a fresh temporary folder, shared by both
# pytest-xdist workers (they inherit the controller's variable) and the binaries the
# tests start: most of the suite's time is compiling the same tiny networks in separate
# processes. The controller removes it at the end. A GANET_JAX_COMPILATION_CACHE set by
# the caller is kept ('' turns the cache off).
if 'GANET_JAX_COMPILATION_CACHE' not in os.environ:
  os.environ['GANET_JAX_COMPILATION_CACHE'] = tempfile.mkdtemp(prefix='ganet_jax_tests_xla_')
  _OWN_CACHE = os.environ['GANET_JAX_COMPILATION_CACHE']
else:
  _OWN_CACHE = None
# The suite runs in two pytest-xdist workers (setup.cfg), one per core of the 2-core
# reference machine: each worker's XLA then computes on one thread, so the workers'
# thread pools do not fight over the same cores (the tests' arrays are small; their
# time is mostly compiles).
os.environ.setdefault('XLA_FLAGS', '--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1')

import jax
import pytest

# Eight simulated CPU devices for the data-parallel tests; single-device code is
# unaffected (it runs on device 0). Must be set before the backend starts.
jax.config.update('jax_num_cpu_devices', 8)
if os.environ['GANET_JAX_COMPILATION_CACHE']:
  from ganet_jax.compilation_cache import use_compilation_cache
  use_compilation_cache(os.environ['GANET_JAX_COMPILATION_CACHE'])


def pytest_sessionfinish(session, exitstatus):
  """The process that made the run's compilation cache removes it (workers inherit it: _OWN_CACHE None)."""
  if _OWN_CACHE:
    shutil.rmtree(_OWN_CACHE, ignore_errors=True)


SHARED_DATA = pathlib.Path(__file__).resolve().parents[1].parent / 'shared' / 'data'


@pytest.fixture(scope='session')
def shared_data() -> pathlib.Path:
  """The real records in ../shared/data (skips when the folder is absent)."""
  if not SHARED_DATA.is_dir():
    pytest.skip(f'real data folder {SHARED_DATA} not found')
  return SHARED_DATA


def normal(shape, seed=0):
  """Standard normal float32 draws of ``shape`` by NumPy's generator of ``seed``.

  Test inputs without JAX's sampler, which compiles anew for every shape (about a second each).
  """
  import numpy as np
  return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def filled_variables(model, x, seed=0):
  """Variables of ``model.init``'s structure and shapes on input ``x`` (an array or ShapeDtypeStruct), filled by NumPy.

  BatchNorm variances are 1, every other leaf 0.1 * standard normal draws of ``seed``: finite
  values for shape and value checks. XLA's CPU compiler takes seconds for a jitted random
  ``init`` (one draw per parameter); this traces ``init`` only.
  """
  import numpy as np
  rng = np.random.default_rng(seed)
  abstract = jax.eval_shape(model.init, jax.random.key(0), x)
  fill = lambda path, leaf: (np.ones(leaf.shape, leaf.dtype) if 'var' in jax.tree_util.keystr(path)
                             else (0.1 * rng.standard_normal(leaf.shape)).astype(leaf.dtype))
  return jax.tree_util.tree_map_with_path(fill, abstract)


TINY_RUN_SAMPLES = 500  # 5-s windows at 100 Hz


def tiny_run_inputs():
  """(config, train, test) of the ``tiny_run`` fixture: a run resumed with them has nothing left to train."""
  import dataclasses
  import numpy as np
  from ganet_jax.data import ingest, prepare_settings
  from ganet_jax.data.synthetic import make_synthetic
  from ganet_jax.training.config import ExperimentConfig
  from ganet_jax.data.preprocess import PreprocessConfig
  # the settings of a prepared set of these windows: TINY_RUN_SAMPLES at 100 Hz
  options = ingest.PrepareOptions(preprocess=PreprocessConfig(window_s=TINY_RUN_SAMPLES / 100))
  records = dataclasses.replace(make_synthetic(10, seed=3, samples=TINY_RUN_SAMPLES),
                                preprocessing=prepare_settings.settings(options))
  # precise BatchNorm off: one compile less, in every worker that needs the run
  config = ExperimentConfig(model_overrides={'num_bottlenecks': 1, 'head_features': 32}, epochs=1, batch_size=8,
                            learning_rate=1e-3, precise_batch_norm=False)
  return config, records, records.subset(np.arange(8))


@pytest.fixture(scope='session')
def tiny_run(tmp_path_factory) -> pathlib.Path:
  """A run folder of a tiny GA-Net trained one epoch on short synthetic records (tests read it, never change it).

  Its records carry a prepared set's preprocessing settings, so the run records them
  for the classifier as a run on real data does. The pytest-xdist workers share one
  folder in the test run's temporary root: the first to need it trains it (tens of
  seconds of compiles) under a lock that the others wait on.
  """
  from ganet_jax.training import experiment
  root = tmp_path_factory.getbasetemp()
  if 'PYTEST_XDIST_WORKER' in os.environ:
    root = root.parent  # the run's root, above each worker's own folder
  workdir = root / 'tiny_run'
  with open(root / 'tiny_run.lock', 'w') as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    if not (workdir / 'metrics.json').is_file():  # an interrupted run of it resumes
      config, train, test = tiny_run_inputs()
      experiment.run(config, train, test, workdir, log=lambda line: None)
  return workdir


def write_table(path, rows, encoding='utf-8'):
  """A records table (CSV) of ``rows`` (dicts sharing the first row's keys) at ``path``; returns ``path``."""
  with open(path, 'w', newline='', encoding=encoding) as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
  return path
