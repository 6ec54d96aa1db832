"""The process this machine's Dask workers are forked from, started early with the modules they run.

A local worker started the default way (a new interpreter) imports the binary's
main module and the library again: about 0.45 s of CPU per worker before its first
task, spent after the binary's own imports, when its cluster starts. Local clusters
here start workers from a fork server instead (``METHOD``): one process that imports
the modules once, each worker a fork of it. A binary that starts it first thing
(``start``, before its own imports) has the server's imports run on another core
while its own run, and its workers ready 0.2-0.4 s sooner (2-core machine, 2
workers, load average 1-2: 0.6-0.8 s against 1.0 s from the command to the first
task).

This module imports nothing heavy, so that a binary can call ``start`` before
anything else.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import multiprocessing.forkserver
import os
from typing import Iterator, Mapping, Sequence

# Dask's multiprocessing method for local workers (``distributed.worker.multiprocessing-method``):
# the fork server where the platform has one (Linux, macOS), else a new interpreter per worker.
METHOD = 'forkserver' if 'forkserver' in multiprocessing.get_all_start_methods() else 'spawn'

# What Dask sets before starting a worker (``distributed.nanny.pre-spawn-environ``): numeric libraries
# with one thread, one worker per core. A forked worker keeps the server's environment, so the server
# starts with it.
THREAD_LIMITS = {'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1', 'OPENBLAS_NUM_THREADS': '1'}


def start(modules: Sequence[str]) -> None:
  """Starts this process's fork server with ``modules`` imported in it; nothing if it runs already.

  Call it in a binary's main module under ``if __name__ == '__main__':`` (a worker
  runs that module again, as ``__mp_main__``) and before the binary's other imports.
  The server lives until this process ends; workers started later by a local cluster
  (``parallel.cluster_client``) are forked from it.

  Args:
    modules: the modules the workers will run (and what they import), e.g.
      'ganet_jax.data.prepare'.
  """
  if METHOD != 'forkserver' or _running():
    return
  multiprocessing.get_context(METHOD).set_forkserver_preload(list(modules))
  with _environment(THREAD_LIMITS):
    multiprocessing.forkserver.ensure_running()
  atexit.register(_stop)


def _running() -> bool:
  return getattr(multiprocessing.forkserver._forkserver, '_forkserver_pid', None) is not None


def _stop() -> None:
  """Stops the server and waits for it (multiprocessing has no public call for this), so that it ends
  with this process rather than after it, and its CPU time, its workers' included, is counted as this
  process's children's (``os.times``), not as another process's."""
  stop = getattr(multiprocessing.forkserver._forkserver, '_stop', None)
  if stop is not None:
    stop()


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
  """``os.environ`` with ``values`` inside the block, as it was after."""
  before = {name: os.environ.get(name) for name in values}
  os.environ.update(values)
  try:
    yield
  finally:
    for name, value in before.items():
      if value is None:
        os.environ.pop(name, None)
      else:
        os.environ[name] = value
