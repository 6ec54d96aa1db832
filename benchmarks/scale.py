r"""Preparation and training at scale: a synthetic SeisBench set in PNW's layout, prepared on 1..cores workers.

  python -m benchmarks.scale --traces=10000 [--workers=1,2] [--repeats=3] [--width=0.25] \
      [--batch_size=32] [--folder=/tmp/scale] [--json=scale.json]

1. Writes ``--traces`` synthetic traces as SeisBench publishes large sets
   (``seisbench_writer.write_synthetic_set``): chunks, bucketed trace names, 3 x 15001
   samples at 100 Hz, PNW's five source types; earthquakes and the non-tectonic types
   differ in frequency content, so a trained model can rank them.
2. Prepares it with ``experiments.prepare --format=seisbench`` (surface events mapped
   to non-tectonic, sonic booms and thunder refused) on each worker count, ``--repeats``
   times with the counts interleaved, each into a new folder (the previous run's set is
   removed first, untimed), and checks every run gives the same set.
3. Trains one epoch of GA-Net (``experiments.train``, the later years as the test split).

Prints records/s per stage, peak anonymous memory (RssAnon, sampled from /proc) of
each run's own process and of its worker processes, and the disk use of the set
and of the prepared folder. Each stage runs as the command a user types, in a
fresh process, so its figures include starting Python and the cluster; the
preparation's rate is also given from the moment its cluster was ready (workers
started, the preparation's modules loaded, as ``experiments.prepare`` logs it),
which is what more records or more cores scale.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from absl import app
from absl import flags
import numpy as np
import psutil

from benchmarks import load
from ganet_jax.data import outputs
from ganet_jax.data import parallel
from ganet_jax.data import records
from ganet_jax.data import seisbench_writer

FLAGS = flags.FLAGS
flags.DEFINE_integer('traces', 10000, 'Synthetic traces in the set.')
flags.DEFINE_integer('chunks', 4, 'Chunks of the set.')
flags.DEFINE_list('workers', [], 'Worker counts to prepare with (default: 1, 2, ... up to the cores).')
flags.DEFINE_integer('repeats', 3, 'Timed preparations per worker count (the median is reported).')
flags.DEFINE_integer('partition_size', parallel.DEFAULT_PARTITION_SIZE, 'experiments.prepare --partition_size.')
flags.DEFINE_float('width', 0.25, 'GA-Net width multiplier of the trained model.')
flags.DEFINE_integer('batch_size', 32, 'Training batch size.')
flags.DEFINE_float('learning_rate', 1e-3, 'Training learning rate.')
flags.DEFINE_string('test_from', '2018-01-01', 'Events from this origin time on are the test split.')
flags.DEFINE_bool('train', True, 'Also train one epoch on the prepared set.')
flags.DEFINE_string('folder', None, 'Working folder (default: a temporary one, removed at the end).')
flags.DEFINE_string('json', None, 'Also write the figures to this JSON file.')

EVENT_TYPE_MAP = 'surface event=1'
_SUMMARY = re.compile(r'input (\d+): accepted (\d+), rejected (\d+) \(([\d.]+) s, ([\d.]+) records/s\)')
_READY = re.compile(r'ready in ([\d.]+) s')


class TreeMemory:
  """Peak RssAnon and CPU time of a process and of its descendants, sampled in a thread while it runs."""

  def __init__(self, pid: int, interval_s: float = 0.2):
    self.pid, self.interval_s = pid, interval_s
    self.own_peak = self.worker_peak = self.total_peak = 0
    self.cpu_s: dict[int, float] = {}  # the last CPU seconds seen of each process
    self._stop = threading.Event()
    self._thread = threading.Thread(target=self._sample, daemon=True)
    self._thread.start()

  def _sample(self) -> None:
    while not self._stop.wait(self.interval_s):
      try:
        root = psutil.Process(self.pid)
        processes = [root, *root.children(recursive=True)]
      except psutil.Error:
        continue
      for process in processes:
        try:
          times = process.cpu_times()
          self.cpu_s[process.pid] = times.user + times.system
        except psutil.Error:
          pass
      own = _rss_anon(self.pid)
      workers = [_rss_anon(process.pid) for process in processes[1:]]
      self.own_peak = max(self.own_peak, own)
      self.worker_peak = max([self.worker_peak, *workers])
      self.total_peak = max(self.total_peak, own + sum(workers))

  def stop(self) -> dict[str, float]:
    """The peaks in MiB (this process, its largest worker, all together) and CPU seconds (its own, its workers')."""
    self._stop.set()
    self._thread.join()
    return {'own_peak_rss_anon_mib': self.own_peak / 1024, 'worker_peak_rss_anon_mib': self.worker_peak / 1024,
            'total_peak_rss_anon_mib': self.total_peak / 1024, 'own_cpu_s': self.cpu_s.get(self.pid, 0.0),
            'workers_cpu_s': sum(s for pid, s in self.cpu_s.items() if pid != self.pid)}


def _rss_anon(pid: int) -> int:
  """RssAnon of ``pid`` in KiB (0 when it is gone)."""
  try:
    for line in pathlib.Path(f'/proc/{pid}/status').read_text().splitlines():
      if line.startswith('RssAnon:'):
        return int(line.split()[1])
  except OSError:
    pass
  return 0


def run_measured(command: list[str]) -> tuple[subprocess.CompletedProcess, float, dict[str, float]]:
  """(the finished process, wall seconds, memory peaks) of ``command`` run from the repository root."""
  env = {**os.environ, 'PYTHONPATH': os.pathsep.join(filter(None, [os.getcwd(), os.environ.get('PYTHONPATH')]))}
  started = time.perf_counter()
  process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
  memory = TreeMemory(process.pid)
  stdout, stderr = process.communicate()
  seconds = time.perf_counter() - started
  peaks = memory.stop()
  result = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
  if result.returncode:
    raise RuntimeError(f'{" ".join(command)} failed ({result.returncode}):\n{stderr[-3000:]}')
  return result, seconds, peaks


def disk_mib(path: pathlib.Path) -> float:
  """Bytes of the files under ``path`` (allocated blocks), in MiB."""
  return sum(f.stat().st_blocks * 512 for f in path.rglob('*') if f.is_file()) / 2**20


def set_digest(folder: pathlib.Path) -> str:
  """SHA-256 of a prepared set's waveforms, manifest and rejections: equal digests, equal sets."""
  digest = hashlib.sha256()
  for name in ('manifest.csv', 'rejected.csv'):
    with open(folder / name, 'rb') as f:
      for block in iter(lambda: f.read(1 << 24), b''):
        digest.update(block)
  waveforms = records.load_prepared(folder).waveforms
  for first in range(0, len(waveforms), 256):
    digest.update(np.ascontiguousarray(waveforms[first:first + 256]).tobytes())
  return digest.hexdigest()


def write_set(folder: pathlib.Path) -> dict:
  started = time.perf_counter()
  seisbench_writer.write_synthetic_set(folder, FLAGS.traces, chunks=FLAGS.chunks)
  seconds = time.perf_counter() - started
  return {'seconds': seconds, 'records_per_s': FLAGS.traces / seconds, 'disk_mib': disk_mib(folder)}


def prepare_once(dataset: pathlib.Path, output: pathlib.Path, workers: int) -> dict:
  # each run is a first preparation: removing the set an earlier run left is no part of it
  for folder in (output, outputs.unfinished_path(output)):
    shutil.rmtree(folder, ignore_errors=True)
  result, seconds, peaks = run_measured([
      sys.executable, '-m', 'experiments.prepare', f'--input={dataset}', '--format=seisbench',
      f'--output={output}', '--overwrite', f'--event_type_map={EVENT_TYPE_MAP}', f'--workers={workers}',
      f'--partition_size={FLAGS.partition_size}', '--noprogress'])
  summary = _SUMMARY.search(result.stdout)
  if not summary:
    raise RuntimeError(f'no summary line in the output of prepare:\n{result.stdout[-2000:]}')
  total, accepted, rejected, inside_s, _ = summary.groups()
  ready = _READY.search(result.stdout)
  ready_s = float(ready.group(1)) if ready else 0.0
  return {'workers': workers, 'wall_s': seconds, 'records_per_s': int(total) / seconds,
          'prepare_s': float(inside_s), 'cluster_ready_s': ready_s,
          'ready_records_per_s': int(total) / max(float(inside_s) - ready_s, 1e-9),
          'input': int(total), 'accepted': int(accepted),
          'rejected': int(rejected), 'digest': set_digest(output), **peaks}


def train_once(prepared: pathlib.Path, workdir: pathlib.Path) -> dict:
  result, seconds, peaks = run_measured([
      sys.executable, '-m', 'experiments.train', f'--config.dataset={prepared}', '--config.epochs=1',
      f'--config.batch_size={FLAGS.batch_size}', f'--config.learning_rate={FLAGS.learning_rate}',
      f'--config.model.width={FLAGS.width}', '--config.split.by=origin_time',
      f'--config.split.test_from={FLAGS.test_from}',
      f'--config.workdir={workdir}', '--noprogress'])
  metrics = json.loads((workdir / 'metrics.json').read_text())
  epoch = json.loads((workdir / 'epochs.jsonl').read_text().splitlines()[-1])
  return {'wall_s': seconds, 'train_records': metrics['train_records'], 'epoch_s': epoch['seconds'],
          'records_per_s': epoch['records_per_second'], 'test_records_per_s': metrics['test_records_per_second'],
          'auc': metrics['auc'], 'test_records': metrics['n_records'], **peaks}


def prepare_all(dataset: pathlib.Path, folder: pathlib.Path, counts: list[int], machine: load.MachineLoad
                ) -> dict[int, list[dict]]:
  """``--repeats`` preparations per worker count, the counts interleaved so load hits them alike."""
  runs = {n: [] for n in counts}
  for repeat in range(FLAGS.repeats):
    for n in counts:
      figures = prepare_once(dataset, folder / f'prepared-{n}', n)
      runs[n].append(figures)
      machine.sample()
      print(f'prepare, {n} workers, run {repeat + 1}: {figures["records_per_s"]:.1f} records/s '
            f'({figures["wall_s"]:.1f} s); once the cluster was ready ({figures["cluster_ready_s"]:.1f} s) '
            f'{figures["ready_records_per_s"]:.1f} records/s; peak RssAnon {figures["own_peak_rss_anon_mib"]:.0f} MiB own, '
            f'{figures["worker_peak_rss_anon_mib"]:.0f} MiB largest worker, '
            f'{figures["total_peak_rss_anon_mib"]:.0f} MiB all', flush=True)
  digests = {figures['digest'] for n in counts for figures in runs[n]}
  if len(digests) != 1:
    raise RuntimeError(f'the prepared sets differ between runs: {len(digests)} different digests')
  return runs


def main(argv):
  del argv
  counts = [int(w) for w in FLAGS.workers] or list(range(1, parallel.default_workers() + 1))
  folder = pathlib.Path(FLAGS.folder or tempfile.mkdtemp(prefix='ganet_scale_'))
  dataset = folder / 'seisbench'
  shutil.rmtree(dataset, ignore_errors=True)
  try:
    with load.MachineLoad() as machine:
      written = write_set(dataset)
      print(f'write: {FLAGS.traces} traces in {written["seconds"]:.1f} s = {written["records_per_s"]:.0f} records/s, '
            f'{written["disk_mib"]:.0f} MiB on disk', flush=True)
      runs = prepare_all(dataset, folder, counts, machine)
      prepared = folder / f'prepared-{counts[0]}'
      trained = train_once(prepared, folder / 'run') if FLAGS.train else None
    summary = {'traces': FLAGS.traces, 'chunks': FLAGS.chunks, 'partition_size': FLAGS.partition_size,
               'cores': parallel.default_workers(), 'write': written, 'prepare': {},
               'prepared_disk_mib': disk_mib(prepared), 'train': trained, 'width': FLAGS.width,
               'batch_size': FLAGS.batch_size, 'load': machine.report()}
  finally:
    if not FLAGS.folder:
      shutil.rmtree(folder, ignore_errors=True)
  base = statistics.median(r['records_per_s'] for r in runs[counts[0]])
  ready_base = statistics.median(r['ready_records_per_s'] for r in runs[counts[0]])
  for n in counts:
    rates = [r['records_per_s'] for r in runs[n]]
    ready_rates = [r['ready_records_per_s'] for r in runs[n]]
    median, ready_median = statistics.median(rates), statistics.median(ready_rates)
    summary['prepare'][n] = {'median_records_per_s': median, 'range': [min(rates), max(rates)],
                             'speedup': median / base, 'median_ready_records_per_s': ready_median,
                             'ready_range': [min(ready_rates), max(ready_rates)],
                             'ready_speedup': ready_median / ready_base, 'runs': runs[n]}
    cpu = statistics.median(r['workers_cpu_s'] for r in runs[n])
    own = statistics.median(r['own_cpu_s'] for r in runs[n])
    print(f'prepare, {n} workers: the whole command, median {median:.1f} records/s (range {min(rates):.1f}-'
          f'{max(rates):.1f}), {median / base:.2f}x of {counts[0]} worker(s); once the cluster was ready, median '
          f'{ready_median:.1f} records/s (range {min(ready_rates):.1f}-{max(ready_rates):.1f}), '
          f'{ready_median / ready_base:.2f}x; CPU per record {1000 * cpu / FLAGS.traces:.2f} ms in workers, '
          f'{1000 * own / FLAGS.traces:.2f} ms in the run\'s own process')
  print(f'prepared set: {summary["prepared_disk_mib"]:.0f} MiB on disk, the same for every worker count and run')
  if trained:
    print(f'train, one epoch of GA-Net width {FLAGS.width}, batch {FLAGS.batch_size}: {trained["train_records"]} '
          f'records at {trained["records_per_s"]:.1f} records/s ({trained["epoch_s"]:.0f} s), test AUC '
          f'{trained["auc"]:.3f} over {trained["test_records"]} records, peak RssAnon '
          f'{trained["own_peak_rss_anon_mib"]:.0f} MiB')
  print(machine.line())
  if FLAGS.json:
    pathlib.Path(FLAGS.json).write_text(json.dumps(summary, indent=2, default=str) + '\n')


if __name__ == '__main__':
  app.run(main)
