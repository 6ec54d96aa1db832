"""The Dask engine: fixed partitions, results in order whatever the workers, lost workers, joining clusters."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time

import dask
import distributed
import pytest

from ganet_jax.data import parallel

REPO = pathlib.Path(__file__).resolve().parents[1]


def squares_and_pid(items, delay_first_s=0.0):
  """Squares of a partition's items and the worker process that made them; partition 0 finishes last."""
  if items[0] == 0:
    time.sleep(delay_first_s)
  return [i * i for i in items], os.getpid()


def dies_once(items, marker_dir):
  """Kills its worker process the first time it meets item 0 (a marker file remembers it did)."""
  marker = pathlib.Path(marker_dir) / 'killed'
  if items[0] == 0 and not marker.exists():
    marker.write_text(str(os.getpid()))
    os._exit(1)
  return [i + 1 for i in items]


def fails_first_attempts(items, count_dir, failures):
  """Raises on the first ``failures`` attempts at each partition (attempts counted in files)."""
  counter = pathlib.Path(count_dir) / f'attempts_{items[0]}'
  attempts = int(counter.read_text()) if counter.exists() else 0
  counter.write_text(str(attempts + 1))
  if attempts < failures:
    raise RuntimeError(f'attempt {attempts} at partition from {items[0]}')
  return sum(items)


def plus_offset(items, offset):
  return [i + offset for i in items]


def test_partitions_are_fixed_by_size_and_cover_every_item():
  assert parallel.partitions(7, 3) == [range(0, 3), range(3, 6), range(6, 7)]
  assert parallel.partitions(6, 3) == [range(0, 3), range(3, 6)]
  assert parallel.partitions(0, 3) == []
  with pytest.raises(ValueError, match='partition size 0'):
    parallel.partitions(5, 0)


def test_cluster_choice_is_checked_before_any_cluster_starts(tmp_path):
  with pytest.raises(ValueError, match='workers and scheduler: give one way'):
    parallel.check_cluster_choice(workers=2, scheduler='tcp://127.0.0.1:1')
  with pytest.raises(ValueError, match='workers=0: must be >= 1'):
    parallel.check_cluster_choice(workers=0)
  with pytest.raises(ValueError, match='--workers and --scheduler_file: give one way'):
    parallel.check_cluster_choice(workers=2, scheduler_file='s.json', prefix='--')
  with pytest.raises(FileNotFoundError, match='scheduler_file=.*absent.json: not found'):
    parallel.check_cluster_choice(scheduler_file=tmp_path / 'absent.json')


@pytest.fixture(scope='module')
def two_workers():
  with parallel.cluster_client(workers=2) as client:
    client.wait_for_workers(2)  # both registered before any test counts which worked
    yield client


def _squares(client, **options):
  assert set(client.nthreads().values()) == {1}  # one thread per worker process
  return list(parallel.map_partitions(squares_and_pid, list(range(23)), client, partition_size=4, **options))


def test_one_and_two_workers_give_the_same_results_in_partition_order(two_workers):
  with parallel.cluster_client(workers=1) as client:
    assert len(client.nthreads()) == 1
    one = _squares(client)
  two = _squares(two_workers, shared=(0.6,))  # partition 0 finishes after the others have
  assert [part for part, _ in one] == parallel.partitions(23, 4) == [part for part, _ in two]
  assert [values for _, (values, _) in one] == [values for _, (values, _) in two]
  assert [v for _, (values, _) in two for v in values] == [i * i for i in range(23)]
  assert len({pid for _, (_, pid) in one}) == 1
  assert len({pid for _, (_, pid) in two}) == 2  # both workers worked
  assert os.getpid() not in {pid for _, (_, pid) in one + two}


def test_local_workers_keep_glibcs_heap_settings(two_workers):
  # Dask's default trims the heap at 64 KiB, which triples the CPU time of preparing a record
  assert set(two_workers.run(os.environ.get, 'MALLOC_TRIM_THRESHOLD_').values()) == {None}
  assert set(two_workers.run(os.environ.get, 'OMP_NUM_THREADS').values()) == {'1'}  # Dask's other settings stay


_FORKED_WORKERS = """
import json, os, sys
from ganet_jax.data import fork_server, parallel
if sys.argv[1] == 'start':
  fork_server.start(['xml.dom.minidom'])  # a module nothing else in this process imports
omp_here = os.environ.get('OMP_NUM_THREADS')
with parallel.cluster_client(workers=2) as client:
  seen = client.run(lambda: ['xml.dom.minidom' in sys.modules, os.getppid()])
print(json.dumps({'workers': list(seen.values()), 'pid': os.getpid(), 'omp_here': omp_here}))
"""


@pytest.mark.parametrize('start', [True, False])
def test_local_workers_are_forked_from_one_server_holding_the_modules_it_was_started_with(start):
  env = {name: value for name, value in os.environ.items() if name != 'OMP_NUM_THREADS'}
  run = subprocess.run([sys.executable, '-c', _FORKED_WORKERS, 'start' if start else 'late'], capture_output=True,
                       text=True, cwd=REPO, env=env, timeout=120)
  assert run.returncode == 0, run.stderr[-2000:]
  seen = json.loads(run.stdout.splitlines()[-1])
  assert [loaded for loaded, _ in seen['workers']] == [start, start]
  parents = {parent for _, parent in seen['workers']}
  assert len(parents) == 1 and seen['pid'] not in parents  # one server, not this process, forked both
  assert seen['omp_here'] is None  # the workers' thread limits are the server's, not this process's


def test_local_workers_do_not_sample_their_tasks_stacks(two_workers):
  # the dashboard's profiler makes a task wait while it samples; a preparation has no dashboard
  assert set(two_workers.run(dask.config.get, 'distributed.worker.profile.enabled').values()) == {False}


def test_a_local_cluster_checks_its_event_loops_and_samples_the_machine_seldom(two_workers):
  # diagnostics for a dashboard a preparation does not have, which cost its own process CPU every 20 ms
  intervals = lambda dask_worker: {name: dask_worker.periodic_callbacks[name].callback_time
                                   for name in ('tick', 'monitor')}
  assert list(two_workers.run(intervals).values()) == [{'tick': 1000, 'monitor': 5000}] * 2
  assert two_workers.run_on_scheduler(intervals) == {'tick': 1000, 'monitor': 5000}


def test_local_workers_leave_ctrl_c_to_the_process_that_closes_them(two_workers):
  handlers = two_workers.run(signal.getsignal, signal.SIGINT)
  assert len(handlers) == 2 and set(handlers.values()) == {signal.SIG_IGN}


def test_a_worker_killed_mid_run_loses_no_partition(tmp_path, two_workers):
  results = list(parallel.map_partitions(dies_once, list(range(10)), two_workers, partition_size=3,
                                         shared=(str(tmp_path),)))
  assert (tmp_path / 'killed').exists()  # a worker did die
  assert [part for part, _ in results] == parallel.partitions(10, 3)
  assert [v for _, values in results for v in values] == list(range(1, 11))


@pytest.fixture(scope='module')
def threaded_cluster():
  """A scheduler with one in-process worker, standing for a cluster started elsewhere."""
  with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None,
                                scheduler_kwargs={'dashboard_address': '127.0.0.1:0'}, silence_logs=40) as cluster:
    yield cluster


def test_retries_rerun_a_partition_whose_function_raises(tmp_path, threaded_cluster):
  (tmp_path / 'retried').mkdir()
  (tmp_path / 'not_retried').mkdir()
  with parallel.cluster_client(scheduler=threaded_cluster.scheduler_address) as client:
    results = list(parallel.map_partitions(fails_first_attempts, list(range(6)), client, partition_size=3,
                                           shared=(str(tmp_path / 'retried'), 1), retries=1))
    assert [total for _, total in results] == [3, 12]
    with pytest.raises(RuntimeError, match='attempt 0 at partition from [03]'):
      list(parallel.map_partitions(fails_first_attempts, list(range(6)), client, partition_size=3,
                                   shared=(str(tmp_path / 'not_retried'), 1), retries=0))


def test_joining_a_scheduler_by_address_leaves_its_cluster_running(threaded_cluster):
  with parallel.cluster_client(scheduler=threaded_cluster.scheduler_address) as client:
    assert 'scheduler ' + threaded_cluster.scheduler_address in parallel.describe(client)
    results = list(parallel.map_partitions(plus_offset, list(range(5)), client, partition_size=2, shared=(10,)))
  assert client.status == 'closed'
  assert [v for _, values in results for v in values] == list(range(10, 15))
  assert len(threaded_cluster.scheduler.workers) == 1  # the cluster outlives the run that joined it


def test_an_unreachable_scheduler_is_named():
  with pytest.raises(ValueError, match='^--scheduler=tcp://127.0.0.1:9: cannot connect'):
    with parallel.cluster_client(scheduler='tcp://127.0.0.1:9', connect_timeout_s=1, prefix='--'):
      pass


def test_an_interrupt_while_mapping_closes_the_local_cluster():
  with pytest.raises(KeyboardInterrupt):
    with parallel.cluster_client(workers=1) as client:
      cluster = client.cluster
      for _ in parallel.map_partitions(squares_and_pid, list(range(9)), client, partition_size=3):
        raise KeyboardInterrupt
  assert client.status == 'closed'
  assert cluster.status.name == 'closed'
  assert not cluster.workers


def test_joining_by_scheduler_file_of_a_dask_scheduler_and_worker(tmp_path):
  scheduler_file = tmp_path / 'scheduler.json'
  env = {**os.environ, 'PYTHONPATH': os.pathsep.join([str(REPO), str(REPO / 'tests')])}
  quiet = dict(env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  processes = [subprocess.Popen([sys.executable, '-m', 'dask', 'scheduler', '--scheduler-file', str(scheduler_file),
                                 '--host', '127.0.0.1', '--port', '0', '--no-dashboard'], **quiet)]
  try:
    processes.append(subprocess.Popen([sys.executable, '-m', 'dask', 'worker', '--scheduler-file',
                                       str(scheduler_file), '--nthreads', '1', '--nworkers', '1',
                                       '--no-dashboard'], **quiet))
    for _ in range(300):
      if scheduler_file.exists():
        break
      time.sleep(0.1)
    with parallel.cluster_client(scheduler_file=scheduler_file) as client:
      client.wait_for_workers(1, timeout=60)
      results = list(parallel.map_partitions(squares_and_pid, list(range(7)), client, partition_size=3))
  finally:
    for process in reversed(processes):
      process.terminate()
      process.wait(timeout=30)
  assert [v for _, (values, _) in results for v in values] == [i * i for i in range(7)]
  assert {pid for _, (_, pid) in results} - {os.getpid(), processes[0].pid, processes[1].pid}  # a worker's own


def test_a_cluster_closed_in_background_is_closed_once_its_thread_ends():
  with parallel.cluster_client(workers=1, close_in_background=True) as client:
    cluster = client.cluster
    assert [v for _, (v, _) in parallel.map_partitions(squares_and_pid, [3], client)] == [[9]]
  assert client.status == 'closed'  # the client closes at once; the cluster in the thread
  closing = [t for t in threading.enumerate() if t.name == parallel.CLOSING_THREAD]
  assert closing and not closing[0].daemon  # the process waits for it before exiting
  for thread in closing:
    thread.join(60)
  assert cluster.status.name == 'closed' and not cluster.workers


def test_an_error_closes_the_cluster_before_it_goes_on_even_when_closing_in_background():
  with pytest.raises(RuntimeError, match='stop'):
    with parallel.cluster_client(workers=1, close_in_background=True) as client:
      cluster = client.cluster
      raise RuntimeError('stop')
  assert cluster.status.name == 'closed' and not cluster.workers
