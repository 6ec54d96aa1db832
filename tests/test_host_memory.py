"""Giving the compiler's freed heap back to the OS."""

import numpy as np

from ganet_jax.training.host_memory import release_free_memory, resident_bytes


def _small_blocks(n):
  return [np.ones(8 * 1024, np.uint8).tobytes() for _ in range(n)]  # heap blocks, below mmap's threshold


def test_freed_heap_below_a_live_block_goes_back_to_the_os_only_when_released():
  if resident_bytes() is None or not release_free_memory():
    return  # not Linux/glibc: nothing to give back, and nothing promised
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
