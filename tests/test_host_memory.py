"""Giving the compiler's freed heap back to the OS."""

import numpy as np
import pytest

from ganet_jax.training.host_memory import release_free_memory, release_if_grown, resident_bytes


def _skip_without_glibc_trim():
  if resident_bytes() is None or not release_free_memory():
    pytest.skip('not Linux with glibc: no malloc_trim, so nothing to give back and nothing promised')


def _small_blocks(n):
  return [np.ones(8 * 1024, np.uint8).tobytes() for _ in range(n)]  # heap blocks, below mmap's threshold


def test_freed_heap_below_a_live_block_goes_back_to_the_os_only_when_released():
  _skip_without_glibc_trim()
  before = resident_bytes()
  blocks = _small_blocks(30000)
  pin = _small_blocks(10)  # allocated last: the heap cannot shrink from its top past them
  held = resident_bytes()
  del blocks
  freed = resident_bytes()
  release_free_memory()
  after = resident_bytes()
  assert held - before > 150e6
  assert held - freed < 50e6  # freed, but still resident: what a compile leaves behind
  assert held - after > 150e6  # released
  assert len(pin) == 10


def test_release_if_grown_trims_only_past_the_slack():
  _skip_without_glibc_trim()
  baseline = release_if_grown(None)  # None: always trims
  blocks = _small_blocks(30000)
  pin = _small_blocks(10)
  del blocks
  grown = resident_bytes()
  assert grown - baseline > 150e6
  # within the slack: nothing given back, and the baseline stays where it was
  assert release_if_grown(baseline, slack=10**12) == baseline
  assert resident_bytes() - baseline > 150e6
  after = release_if_grown(baseline, slack=50 * 2**20)  # past it: trimmed, the new size returned
  assert grown - after > 150e6 and abs(after - resident_bytes()) < 20e6
  assert len(pin) == 10
