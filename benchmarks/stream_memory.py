r"""Does a training process's anonymous memory stay flat as the data set grows?

  python -m benchmarks.stream_memory [--records=3000,12000] [--samples=10000] [--batch_size=8] [--json=PATH]
      [--layout=sharded|single] [--library=PATH]

For each size in ``--records``:

1. Writes a sharded prepared set of that many random 3-component windows of
   ``--samples`` samples straight through ``data.shards`` (one event per record,
   both classes, origin times over ten years), ``--shard_records`` records a shard;
   with ``--layout=single`` then copied into a single-file set (one waveforms.npy).
2. In a fresh process: opens it as a run does (``dataset.load_split``, the last year
   the test split), trains one epoch of GA-Net at width 0.25 (``experiment.run``:
   shuffled batches, precise BatchNorm, the test evaluation and its files), while a
   thread samples the process's RssAnon (what it allocated itself, not the pages of
   the memory-mapped shards) every 20 ms.
3. Prints the peak RssAnon of each size, the train step's records/s and the growth
   per record between the smallest and the largest size.

``--library=PATH`` runs the training process with the ``ganet_jax`` of PATH (e.g. a
``git worktree`` of an earlier commit) first on the path: the same measurement of
other code, on a single-file set where that code reads no shards.

Bounded memory means the peaks agree (within 100 MB) although the sets differ fourfold.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from absl import app, flags
import numpy as np

_RECORDS = flags.DEFINE_list('records', ['3000', '12000'], 'Set sizes to compare, in records.')
_SAMPLES = flags.DEFINE_integer('samples', 10000, 'Samples per window (3 components each).')
_BATCH_SIZE = flags.DEFINE_integer('batch_size', 8, 'Records per training step.')
_SHARD_RECORDS = flags.DEFINE_integer('shard_records', 1000, 'Records per shard.')
_JSON = flags.DEFINE_string('json', None, 'Write the figures to this JSON file.')
_LAYOUT = flags.DEFINE_enum('layout', 'sharded', ['sharded', 'single'], 'How the prepared set is written.')
_LIBRARY = flags.DEFINE_string('library', None, 'Train with the ganet_jax of this checkout (default: this one).')
_CHILD = flags.DEFINE_string('child', None, 'Internal: train one epoch on this prepared set, print the peaks.')

TEST_FROM = '2019-01-01'


def write_set(folder: pathlib.Path, n_records: int, samples: int, shard_records: int) -> None:
  """A sharded set of ``n_records`` random windows, written one shard at a time (memory: one shard)."""
  from ganet_jax.data import shards
  from ganet_jax.data.records import RecordSet
  rng = np.random.default_rng(0)
  start, stop = np.datetime64('2010-01-01', 'ms').astype(np.int64), np.datetime64('2020-01-01', 'ms').astype(np.int64)
  # sorted origin times, so the last tenth or so of the records is the test year
  times = np.sort(rng.integers(start, stop, n_records)).astype('datetime64[ms]')
  numbers = range(0, n_records, shard_records)
  for number, first in enumerate(numbers):
    ids = np.arange(first, min(first + shard_records, n_records))
    labels = (ids % 2).astype(np.int32)
    records = RecordSet(
        waveforms=rng.standard_normal((len(ids), samples, 3), dtype=np.float32), labels=labels,
        event_ids=np.char.add('ev', ids.astype(str)), origin_times=times[ids],
        event_types=np.where(labels == 0, 'earthquake', 'explosion'), record_ids=np.char.add('r', ids.astype(str)),
        extra={'network': np.full(len(ids), 'XX'), 'station': np.char.add('S', (ids % 50).astype(str))})
    shards.write_shard(folder, number, records, settings=None)
  shards.write_index(folder, range(len(numbers)), None)


def _rss_anon_kib() -> int:
  from ganet_jax.training.host_memory import status_bytes
  return (status_bytes('RssAnon') or 0) // 1024


class PeakSampler:
  """A daemon thread keeping the highest RssAnon seen, sampled every ``interval_s``."""

  def __init__(self, interval_s: float = 0.02):
    self.peak_kib = _rss_anon_kib()
    self._stop = threading.Event()
    self._thread = threading.Thread(target=self._run, args=(interval_s,), daemon=True)
    self._thread.start()

  def _run(self, interval_s: float) -> None:
    while not self._stop.wait(interval_s):
      self.peak_kib = max(self.peak_kib, _rss_anon_kib())

  def stop(self) -> int:
    self._stop.set()
    self._thread.join()
    return max(self.peak_kib, _rss_anon_kib())


def child(folder: str, batch_size: int) -> None:
  """Train one epoch on ``folder`` as a run does; print the peaks as one JSON line."""
  sampler = PeakSampler()
  import ml_collections
  from ganet_jax.data.dataset import load_split
  from ganet_jax.training import experiment
  from ganet_jax.training.config import ExperimentConfig
  imported_kib = _rss_anon_kib()
  config = ml_collections.ConfigDict({'dataset': folder, 'synthetic': {},
                                      'split': {'validation_from': None, 'test_from': TEST_FROM}})
  split = load_split(config)
  loaded_kib = _rss_anon_kib()
  settings = ExperimentConfig(model_overrides={'width': 0.25}, epochs=1, batch_size=batch_size)
  with tempfile.TemporaryDirectory() as workdir:
    result = experiment.run(settings, split.train, split.test, workdir, log=lambda line: None, progress=False)
    history = json.loads(pathlib.Path(workdir, 'epochs.jsonl').read_text().splitlines()[-1])
  peak = sampler.stop()
  print(json.dumps({'records': len(split.train) + len(split.test), 'train_records': len(split.train),
                    'test_records': len(split.test), 'peak_rss_anon_mib': peak / 1024,
                    'rss_anon_after_imports_mib': imported_kib / 1024, 'rss_anon_after_load_mib': loaded_kib / 1024,
                    'train_records_per_s': history['records_per_second'], 'peak_rss_mib': result['peak_rss_mib']}))


def as_single_file(sharded: pathlib.Path, folder: pathlib.Path) -> None:
  """The sharded set copied into a single-file prepared set (the windows a bounded chunk at a time)."""
  from ganet_jax.data.records import load_prepared, save_prepared
  save_prepared(folder, load_prepared(sharded))


def measure(folder: pathlib.Path, batch_size: int, library: str | None) -> dict:
  """The child's figures for one prepared set (a fresh process: nothing carried over)."""
  started = time.perf_counter()
  path = [library or str(pathlib.Path(__file__).resolve().parents[1])]
  env = {**os.environ, 'PYTHONPATH': os.pathsep.join(path + [p for p in [os.environ.get('PYTHONPATH')] if p])}
  run = subprocess.run([sys.executable, str(pathlib.Path(__file__).resolve()), f'--child={folder}',
                        f'--batch_size={batch_size}'], capture_output=True, text=True, env=env)
  if run.returncode:
    raise RuntimeError(f'the training process failed:\n{run.stderr[-3000:]}')
  return {**json.loads(run.stdout.strip().splitlines()[-1]), 'wall_s': time.perf_counter() - started}


def main(argv):
  del argv
  if _CHILD.value:
    child(_CHILD.value, _BATCH_SIZE.value)
    return
  sizes = [int(n) for n in _RECORDS.value]
  figures = {'samples': _SAMPLES.value, 'batch_size': _BATCH_SIZE.value, 'model': 'ganet width 0.25',
             'layout': _LAYOUT.value, 'library': _LIBRARY.value or 'this checkout', 'runs': [],
             'load_average': os.getloadavg()}
  with tempfile.TemporaryDirectory() as tmp:
    for n in sizes:
      folder = pathlib.Path(tmp) / f'set_{n}'
      write_set(folder, n, _SAMPLES.value, _SHARD_RECORDS.value)
      if _LAYOUT.value == 'single':
        as_single_file(folder, pathlib.Path(tmp) / f'single_{n}')
        shutil.rmtree(folder)
        folder = pathlib.Path(tmp) / f'single_{n}'
      run = measure(folder, _BATCH_SIZE.value, _LIBRARY.value)
      figures['runs'].append(run)
      print(f'{n} records of 3 x {_SAMPLES.value} ({n * _SAMPLES.value * 12 / 2**20:.0f} MiB on disk): peak RssAnon '
            f'{run["peak_rss_anon_mib"]:.0f} MiB ({run["rss_anon_after_load_mib"]:.0f} after opening the set), '
            f'train step {run["train_records_per_s"]:.1f} records/s, {run["wall_s"]:.0f} s', flush=True)
      shutil.rmtree(folder)
  first, last = figures['runs'][0], figures['runs'][-1]
  growth = last['peak_rss_anon_mib'] - first['peak_rss_anon_mib']
  figures['peak_difference_mib'] = growth
  figures['growth_kib_per_record'] = growth * 1024 / max(1, last['records'] - first['records'])
  figures['load_average_after'] = os.getloadavg()
  print(f'peak RssAnon {last["records"]} vs {first["records"]} records: {growth:+.0f} MiB '
        f'({figures["growth_kib_per_record"]:+.1f} KiB per record); load average {figures["load_average"][0]:.1f} '
        f'before, {figures["load_average_after"][0]:.1f} after')
  if _JSON.value:
    pathlib.Path(_JSON.value).write_text(json.dumps(figures, indent=2) + '\n')


if __name__ == '__main__':
  app.run(main)
