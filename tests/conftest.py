"""Shared test fixtures. Tests run on CPU with small shapes."""

import os
import pathlib

os.environ.setdefault('JAX_PLATFORMS', 'cpu')

import jax
import pytest

# Eight simulated CPU devices for the data-parallel tests; single-device code is
# unaffected (it runs on device 0). Must be set before the backend starts.
jax.config.update('jax_num_cpu_devices', 8)

SHARED_DATA = pathlib.Path(__file__).resolve().parents[1].parent / 'shared' / 'data'


@pytest.fixture(scope='session')
def shared_data() -> pathlib.Path:
  """The real records in ../shared/data (skips when the folder is absent)."""
  if not SHARED_DATA.is_dir():
    pytest.skip(f'real data folder {SHARED_DATA} not found')
  return SHARED_DATA
