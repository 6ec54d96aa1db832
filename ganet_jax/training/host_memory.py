"""Host memory of a training process: giving back what the compiler freed.

XLA frees the memory a compile used, but glibc's allocator keeps freed pages
inside the process, so a CPU training process stays at the compiler's peak (for
the default GA-Net about 1 GB above what its steps need) long after compiling.
``release_free_memory`` returns those pages to the operating system; the run loop
calls it (``release_if_grown``) after an epoch that left the process larger, and
``benchmarks.throughput`` after the warm-up step of every contender before it reads
a step's peak memory.
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


def release_if_grown(baseline: int | None, *, slack: int = 128 * 2**20) -> int | None:
  """``release_free_memory`` if the process has grown by more than ``slack`` bytes since ``baseline``.

  A trim walks the whole heap (~0.16 s for a training process of the default GA-Net,
  2.4 s of a 15-epoch run when done every epoch), and only an epoch that compiled
  leaves much to give back.

  Args:
    baseline: the resident size this returned last time; None: release now.

  Returns:
    The resident size after a trim, else ``baseline`` (to pass next time); None off Linux.
  """
  resident = resident_bytes()
  if baseline is not None and resident is not None and resident <= baseline + slack:
    return baseline  # kept, so that growth over several epochs adds up
  release_free_memory()
  return resident_bytes()


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
