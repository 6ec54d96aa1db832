"""Work over many records on all cores or a cluster, through Dask, with results in input order.

The items (records, table rows) are cut into fixed partitions of ``partition_size``
items, whatever the number of workers, and a pure function is mapped over the
partitions on a Dask cluster. Results come back in partition order, each as soon
as it and every partition before it are done, so a caller can write them (and
count progress) as they come and its output never depends on the number of
workers, on the scheduler, or on which partition finished first.

The cluster is one of:
  - ``workers=N``: a ``distributed.LocalCluster`` of N single-threaded worker
    processes on this machine (default: the cores this process may use);
  - ``scheduler='tcp://host:8786'``: an existing scheduler (``dask scheduler`` with
    ``dask worker`` processes on other machines);
  - ``scheduler_file=PATH``: the scheduler that wrote this file
    (``dask scheduler --scheduler-file``, dask-jobqueue on a batch system).

A worker that dies (killed, out of memory, its machine gone) loses nothing: the
scheduler runs its partitions again on the workers left, and a partition whose
function raises is retried ``retries`` times before the error reaches the caller.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import pathlib
import signal
import threading
import time
import types
import uuid
from typing import Callable, Iterator, Sequence, TypeVar

import dask
import distributed

from ganet_jax.data import fork_server

DEFAULT_PARTITION_SIZE = 256
DEFAULT_RETRIES = 2
# Tasks submitted per worker thread beyond the one it runs: enough that no worker waits
# for its next, few enough that the results held for ordering stay bounded.
_QUEUED_PER_THREAD = 1

# Dask starts its workers with MALLOC_TRIM_THRESHOLD_=65536, so glibc hands freed memory back at
# once: preparing a record then takes ~650 page faults and 3x the CPU time (1.3 ms of system time
# on this library's arrays of a few hundred KB, against 0.08 ms with glibc's defaults). The local
# workers keep glibc's defaults; docs/large_datasets.md says how to start a cluster's likewise.
# Each worker also samples its task's stack every 10 ms for the dashboard's profile; while the sampler
# holds the interpreter the task waits, and a partition took 20-30% longer (wall clock) with it.
# The scheduler, the nannies and the workers also check their event loop every 20 ms and sample the
# machine every 0.5 s, for diagnostics: on an idle two-worker cluster that took 45-58 ms of CPU a second
# in this process (which holds the scheduler and nannies), against 15-17 ms with the check every second
# and the sampling every 5 s; a core a preparation needs.
# The workers are forked from a server process that imported their modules once (``fork_server``).
LOCAL_WORKER_CONFIG = {'distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_': None,
                       'distributed.worker.profile.enabled': False,
                       'distributed.admin.tick.interval': '1s',
                       'distributed.admin.system-monitor.interval': '5s',
                       'distributed.worker.multiprocessing-method': fork_server.METHOD}

Item = TypeVar('Item')
Result = TypeVar('Result')


def default_workers() -> int:
  """The cores this process may run on (its CPU affinity, e.g. a batch job's allocation)."""
  try:
    return len(os.sched_getaffinity(0))
  except AttributeError:  # no affinity on this platform
    return os.cpu_count() or 1


def partitions(n_items: int, partition_size: int = DEFAULT_PARTITION_SIZE) -> list[range]:
  """Consecutive item ranges of ``partition_size`` (the last one shorter), covering ``range(n_items)``.

  Raises:
    ValueError: when ``partition_size`` < 1 or ``n_items`` < 0.
  """
  if partition_size < 1:
    raise ValueError(f'partition size {partition_size}: must be >= 1')
  if n_items < 0:
    raise ValueError(f'item count {n_items}: must be >= 0')
  return [range(start, min(start + partition_size, n_items)) for start in range(0, n_items, partition_size)]


def check_cluster_choice(workers: int | None = None, scheduler: str | None = None,
                         scheduler_file: str | os.PathLike | None = None, *, prefix: str = '') -> None:
  """Checks a cluster choice before any work: one way at most, a positive worker count, an existing file.

  Args:
    workers, scheduler, scheduler_file: as ``cluster_client``'s.
    prefix: put before the names in messages (a binary's '--', so they name its flags).

  Raises:
    ValueError: for several choices at once or workers < 1.
    FileNotFoundError: for a scheduler file that does not exist.
  """
  chosen = [prefix + name for name, value in (('workers', workers), ('scheduler', scheduler),
                                              ('scheduler_file', scheduler_file)) if value]
  if len(chosen) > 1:
    raise ValueError(f'{" and ".join(chosen)}: give one way to reach workers, not several')
  if workers is not None and workers < 1:
    raise ValueError(f'{prefix}workers={workers}: must be >= 1')
  if scheduler_file and not pathlib.Path(scheduler_file).is_file():
    raise FileNotFoundError(f'{prefix}scheduler_file={scheduler_file}: not found; start the scheduler '
                            '(dask scheduler --scheduler-file=...) first')


@contextlib.contextmanager
def cluster_client(workers: int | None = None, scheduler: str | None = None,
                   scheduler_file: str | os.PathLike | None = None,
                   connect_timeout_s: float = 30.0, prefix: str = '', close_in_background: bool = False
                   ) -> Iterator[distributed.Client]:
  """A Dask client on a local cluster or an existing one, closed on the way out (also on an interrupt).

  A local cluster is shut down with the block; an existing cluster is left running
  (only this client disconnects), so its workers serve the next run.

  Args:
    workers: local worker processes, one thread each (default ``default_workers()``).
    scheduler: address of a running scheduler, e.g. 'tcp://10.0.0.5:8786'.
    scheduler_file: the JSON file a running scheduler wrote.
    connect_timeout_s: how long to try reaching a running scheduler.
    prefix: put before the names in messages (``check_cluster_choice``).
    close_in_background: after a block that ends normally, shut a local cluster down
      in a thread (``CLOSING_THREAD``) while the caller goes on: its worker processes
      take a few tenths of a second each to stop. The thread is not a daemon, so the
      process still waits for it before exiting. A block ended by an error or an
      interrupt closes the cluster before the error goes on.

  Yields:
    The connected ``distributed.Client``.

  Raises:
    ValueError: for a bad choice (``check_cluster_choice``), or naming the scheduler
      or file when it cannot be reached.
  """
  check_cluster_choice(workers, scheduler, scheduler_file, prefix=prefix)
  with contextlib.ExitStack() as stack:
    if scheduler or scheduler_file:
      where = f'{prefix}scheduler={scheduler}' if scheduler else f'{prefix}scheduler_file={scheduler_file}'
      try:
        client = distributed.Client(scheduler, scheduler_file=str(scheduler_file) if scheduler_file else None,
                                    timeout=connect_timeout_s, set_as_default=False)
      except (OSError, TimeoutError) as error:
        raise ValueError(f'{where}: cannot connect ({error})') from None
    else:
      stack.enter_context(dask.config.set(LOCAL_WORKER_CONFIG))
      # started here unless the binary started it first: with our modules and thread limits, not Dask's choice
      fork_server.start(['distributed', __name__])
      cluster = distributed.LocalCluster(
          n_workers=workers or default_workers(), threads_per_worker=1, processes=True, host='127.0.0.1',
          silence_logs=logging.ERROR, dashboard_address=None, preload=[__name__],
          # the scheduler's health and metrics server, on a free port rather than a busy 8787
          scheduler_kwargs={'dashboard_address': '127.0.0.1:0'})
      shutdown = stack.enter_context(_shut_down(cluster))
      client = distributed.Client(cluster, set_as_default=False)
    stack.callback(client.close)
    yield client
    if not (scheduler or scheduler_file):
      shutdown.in_background = close_in_background  # reached only when the block ended normally


# The thread that shuts a local cluster down after ``cluster_client(close_in_background=True)``.
CLOSING_THREAD = 'dask-local-cluster-close'


@contextlib.contextmanager
def _shut_down(cluster: distributed.LocalCluster) -> Iterator[types.SimpleNamespace]:
  """Closes ``cluster`` on the way out, in a thread when the block set ``in_background``."""
  shutdown = types.SimpleNamespace(in_background=False)
  try:
    yield shutdown
  finally:
    if shutdown.in_background:
      threading.Thread(target=cluster.close, name=CLOSING_THREAD).start()
    else:
      cluster.close()


def describe(client: distributed.Client) -> str:
  """'3 workers, 3 threads (scheduler tcp://...)': what a run is spread over, for its log."""
  threads = client.nthreads()
  return f'{len(threads)} workers, {sum(threads.values())} threads (scheduler {client.scheduler.address})'


def map_partitions(function: Callable[..., Result], items: Sequence[Item], client: distributed.Client, *,
                   partition_size: int = DEFAULT_PARTITION_SIZE, shared: Sequence[object] = (),
                   retries: int = DEFAULT_RETRIES, name: str = 'partition',
                   ) -> Iterator[tuple[range, Result]]:
  """``function(items[part], *shared)`` of each partition on the cluster, yielded in partition order.

  Args:
    function: a pure, picklable function of a list of items (and ``shared``); see ``map_in_order``.
    items: the work items, sliced per partition (each slice is sent to a worker).
    client: the cluster's client (``cluster_client``).
    partition_size: items per partition; it fixes the partitions, not the workers.
    shared, retries, name: as ``map_in_order``'s.

  Yields:
    (the partition's item range, its result), in partition order.
  """
  parts = partitions(len(items), partition_size)
  results = map_in_order(function, [list(items[part.start:part.stop]) for part in parts], client,
                         shared=shared, retries=retries, name=name)
  yield from zip(parts, results)


def map_in_order(function: Callable[..., Result], tasks: Sequence[object], client: distributed.Client, *,
                 shared: Sequence[object] = (), retries: int = DEFAULT_RETRIES, name: str = 'partition',
                 ) -> Iterator[Result]:
  """``function(task, *shared)`` of each task on the cluster, yielded in task order as they complete.

  Only a few tasks per worker thread are submitted ahead of the first one not yet
  yielded, so the results held for ordering (and the task graph) stay bounded
  however many tasks there are. Leaving the loop early (or an interrupt) cancels
  the tasks still queued.

  Args:
    function: a pure, picklable function; it runs in the worker processes, so it
      must be importable there (a module-level function of an installed module).
    tasks: one argument per task (e.g. a partition's items), each sent to a worker.
    client: the cluster's client (``cluster_client``).
    shared: values every task needs (settings, a catalog): sent to the cluster once,
      as tasks the scheduler can recompute if the worker holding them dies.
    retries: times a task whose function raises is run again before its error is
      raised here.
    name: the tasks' names on the scheduler (its dashboard shows them).

  Yields:
    Each task's result, in task order.

  Raises:
    Whatever ``function`` raised on the last retry, or ``distributed.KilledWorker``
    when a task kept killing its workers.
  """
  token = uuid.uuid4().hex[:12]
  shared_futures = [client.submit(_value, value, key=f'{name}-shared-{i}-{token}', pure=False)
                    for i, value in enumerate(shared)]
  if shared_futures:
    # on every worker: held by one only, they would draw the tasks to it (Dask places a task where its inputs are)
    client.replicate(shared_futures)
  running: dict[int, distributed.Future] = {}
  indices: dict[str, int] = {}
  finished: dict[int, Result] = {}
  completed = distributed.as_completed(loop=client.loop)
  submitted = yielded = 0
  threads = _ThreadCount(client)
  try:
    while yielded < len(tasks):
      ahead = threads() * (1 + _QUEUED_PER_THREAD)
      while submitted < len(tasks) and submitted - yielded < ahead:
        future = client.submit(function, tasks[submitted], *shared_futures, key=f'{name}-{submitted}-{token}',
                               pure=False, retries=retries)
        running[submitted] = future
        indices[future.key] = submitted
        completed.add(future)
        submitted += 1
      future = next(completed)
      index = indices.pop(future.key)
      finished[index] = future.result()
      running.pop(index).release()
      while yielded in finished:
        yield finished.pop(yielded)
        yielded += 1
  finally:
    client.cancel(list(running.values()) + shared_futures)


class _ThreadCount:
  """The cluster's worker threads (at least 1), asked of the scheduler at most every ``every_s``
  seconds: a cluster may grow or shrink during a run, but each question is a round trip."""

  def __init__(self, client: distributed.Client, every_s: float = 1.0):
    self._client, self._every_s = client, every_s
    self._count, self._asked = 1, -math.inf

  def __call__(self) -> int:
    if time.monotonic() - self._asked >= self._every_s:
      self._count = max(1, sum(self._client.nthreads().values()))
      self._asked = time.monotonic()
    return self._count


def dask_setup(worker) -> None:
  """Run by each local worker process as it starts (Dask's preload hook): it ignores Ctrl-C.

  A terminal's Ctrl-C reaches every process of the run; the run's own process stops
  and closes its cluster, so the workers would only print tracebacks of their own.
  """
  del worker
  if threading.current_thread() is threading.main_thread():
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _value(value: object) -> object:
  """A task that holds ``value`` on the cluster (the scheduler can rerun it if its worker dies)."""
  return value
