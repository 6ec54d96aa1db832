"""Host memory of a training process: giving back what the compiler freed.

XLA frees the memory a compile used, but glibc's allocator keeps freed pages
inside the process, so a CPU training process stays at the compiler's peak (for
the default GA-Net about 1 GB above what its steps need) long after compiling.
``release_free_memory`` returns those pages to the operating system; the run loop
calls it after each epoch, and ``benchmarks.throughput`` after the warm-up step of
every contender before it reads a step's peak memory.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.lru_cache(maxsize=None)
def _libc():
  name = ctypes.util.find_library('c')
  try:
    libc = ctypes.CDLL(name) if name else None
  except OSError:
    return None
  return libc if libc is not None and hasattr(libc, 'malloc_trim') else None


def release_free_memory() -> bool:
  """Return the C heap's free pages to the OS (glibc ``malloc_trim``); False where there is no such call."""
  libc = _libc()
  if libc is None:
    return False
  libc.malloc_trim(0)
  return True


def status_bytes(field: str) -> int | None:
  """A memory figure of /proc/self/status in bytes (e.g. 'VmRSS', 'VmHWM'); None off Linux."""
  try:
    with open('/proc/self/status') as f:
      for line in f:
        if line.startswith(field + ':'):
          return int(line.split()[1]) * 1024
  except OSError:
    pass
  return None


def resident_bytes() -> int | None:
  """This process's resident set size now (``VmRSS``), None off Linux."""
  return status_bytes('VmRSS')
