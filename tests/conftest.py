"""Shared test fixtures. Tests run on CPU with small shapes."""

import os
import pathlib

os.environ.setdefault('JAX_PLATFORMS', 'cpu')

import pytest

SHARED_DATA = pathlib.Path(__file__).resolve().parents[1].parent / 'shared' / 'data'


@pytest.fixture(scope='session')
def shared_data() -> pathlib.Path:
  """The real records in ../shared/data (skips when the folder is absent)."""
  if not SHARED_DATA.is_dir():
    pytest.skip(f'real data folder {SHARED_DATA} not found')
  return SHARED_DATA
