r"""Does the input path keep up with the model, and does training memory stay bounded?

  python -m benchmarks.input_pipeline [--records=3300] [--batch_size=32] [--json=PATH]

1. Writes a sharded prepared set of ``--records`` synthetic 10000 x 3 records
   (more than batch x 100) to a temporary folder (``data.shards``), opens it as a
   run does and takes nine tenths of it as the training split: windows read
   through the shards' memory maps, the split a view, never a copy.
2. Pipeline: records/s of ``loader.batches`` over that split in a shuffled epoch
   order, with and without the background ``prefetch``; with Grain installed also
   Grain's ``DataLoader`` over the same split and order (no worker processes, and 2).
3. Model: records/s of the default GA-Net's jitted train step (compile excluded),
   and the pipeline's records/s over the step's.
4. Memory: a child process trains one epoch of a narrow GA-Net over the first
   third of the set, another over the whole set, through the same loader; each
   reports its peak anonymous memory (RssAnon: what the process itself
   allocated) and peak resident set (VmHWM: which also counts file pages of the
   memory map, reclaimable page cache). Bounded memory means the two peaks
   agree although one set is three times the other (``benchmarks.stream_memory``
   measures the whole ``experiment.run`` the same way).
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import tempfile
import time

from absl import app, flags
import jax
import jax.numpy as jnp
import numpy as np

from ganet_jax import GANet
from ganet_jax.data import RecordSet, load_prepared, shards
from ganet_jax.data.loader import batches, epoch_order, prefetch
from ganet_jax.data.synthetic import make_synthetic
from ganet_jax.training.losses import cross_entropy
from ganet_jax.training.step import create_train_state, jit_train_step

_RECORDS = flags.DEFINE_integer('records', 3300, 'Records in the on-disk set (> batch_size x 100).')
_BATCH_SIZE = flags.DEFINE_integer('batch_size', 32, 'Records per batch.')
_MODEL_STEPS = flags.DEFINE_integer('model_steps', 3, 'Timed train steps of the default GA-Net.')
_JSON = flags.DEFINE_string('json', None, 'Write the figures to this JSON file.')
_MEMORY_CHILD = flags.DEFINE_string('memory_child', None, 'Internal: train over this prepared set, print peaks.')
_MEMORY_LIMIT = flags.DEFINE_integer('memory_limit', None, 'Internal: records of the set the child trains on.')


def write_dataset(folder: pathlib.Path, n_records: int) -> RecordSet:
  """A sharded prepared set of ``n_records``: distinct synthetic events, tiled, written through a memmap."""
  source = make_synthetic(40, seed=0)
  staging = np.lib.format.open_memmap(folder / 'staging.npy', mode='w+', dtype=np.float32,
                                      shape=(n_records, *source.waveforms.shape[1:]))
  for start in range(0, n_records, len(source)):
    count = min(len(source), n_records - start)
    staging[start:start + count] = source.waveforms[:count]
  tile = lambda column: np.resize(np.asarray(column), n_records)
  records = RecordSet(staging, tile(source.labels), tile(source.event_ids), tile(source.origin_times),
                      tile(source.event_types), np.array([f'r{i}' for i in range(n_records)]))
  shards.write_sharded(folder / 'set', records, shard_records=max(1, n_records // 4))
  del records, staging
  (folder / 'staging.npy').unlink()
  return load_prepared(folder / 'set')


def training_split(records: RecordSet) -> RecordSet:
  """Nine tenths of the records, as a split is: a view of the set on disk."""
  return records.subset(np.arange(len(records) * 9 // 10))


def loader_rate(records: RecordSet, batch_size: int, *, ahead: int) -> float:
  order = epoch_order(len(records), seed=0, epoch=1)
  start = time.perf_counter()
  for _ in prefetch(batches(records, order, batch_size), size=ahead):
    pass
  return len(records) / (time.perf_counter() - start)


def grain_rate(records: RecordSet, batch_size: int, *, workers: int) -> float | None:
  """Records/s of Grain's DataLoader over the same windows in the same order; None without Grain."""
  try:
    import grain
  except ImportError:
    return None
  order = epoch_order(len(records), seed=0, epoch=1)
  source = _OrderedWindows(records.waveforms, order)
  loader = grain.DataLoader(data_source=source, sampler=grain.samplers.SequentialSampler(len(order)),
                            operations=[grain.transforms.Batch(batch_size)], worker_count=workers)
  start = time.perf_counter()
  for _ in loader:
    pass
  return len(records) / (time.perf_counter() - start)


class _OrderedWindows:
  """A random-access source of the windows in an epoch's order (what Grain's loader reads a record at a time)."""

  def __init__(self, waveforms, order):
    self.waveforms, self.order = waveforms, order

  def __len__(self):
    return len(self.order)

  def __getitem__(self, position):
    return self.waveforms[int(self.order[position])]


def model_rate(shape: tuple[int, ...], steps: int) -> dict:
  state = create_train_state(GANet(), jax.random.key(0), shape)
  batch = {'waveforms': jnp.asarray(np.random.default_rng(0).standard_normal(shape), jnp.float32),
           'labels': jnp.zeros(shape[0], jnp.int32)}
  start = time.perf_counter()
  state, metrics = jit_train_step(state, batch, jax.random.key(1), loss_fn=cross_entropy)
  jax.block_until_ready(metrics)
  compile_s = time.perf_counter() - start
  start = time.perf_counter()
  for _ in range(steps):
    state, metrics = jit_train_step(state, batch, jax.random.key(1), loss_fn=cross_entropy)
  jax.block_until_ready(metrics)
  return {'records_per_s': steps * shape[0] / (time.perf_counter() - start), 'first_step_s': compile_s}


def _status_kib(field: str) -> int:
  for line in pathlib.Path('/proc/self/status').read_text().splitlines():
    if line.startswith(field + ':'):
      return int(line.split()[1])
  return 0


def memory_child(folder: str, batch_size: int, limit: int) -> None:
  """Train one epoch of a narrow GA-Net over the first ``limit`` records; print peak memory as JSON."""
  records = load_prepared(folder)  # stays memory-mapped: only the epoch order is cut to ``limit``
  state = create_train_state(GANet(num_bottlenecks=1, head_features=16), jax.random.key(0),
                             (batch_size, *records.waveforms.shape[1:]))
  baseline_anon = _status_kib('RssAnon')
  peak_anon = 0
  order = epoch_order(min(limit, len(records)), seed=0, epoch=1)
  for batch in prefetch(batches(records, order, batch_size)):
    state, metrics = jit_train_step(state, {'waveforms': jnp.asarray(batch.waveforms),
                                            'labels': jnp.asarray(batch.labels)},
                                    jax.random.key(1), loss_fn=cross_entropy)
    jax.block_until_ready(metrics)
    peak_anon = max(peak_anon, _status_kib('RssAnon'))
  print(json.dumps({'records': len(order), 'peak_rss_anon_mib': peak_anon / 1024,
                    'rss_anon_after_compile_mib': baseline_anon / 1024, 'peak_vmhwm_mib': _status_kib('VmHWM') / 1024}))


def measure_memory(folder: str, batch_size: int, limit: int) -> dict:
  """Peak memory of a fresh process training one epoch over ``limit`` records of ``folder``."""
  child = subprocess.run([sys.executable, '-m', 'benchmarks.input_pipeline', f'--memory_child={folder}',
                          f'--batch_size={batch_size}', f'--memory_limit={limit}'],
                         capture_output=True, text=True, check=True)
  return json.loads(child.stdout.strip().splitlines()[-1])


def main(argv):
  del argv
  if _MEMORY_CHILD.value:
    memory_child(_MEMORY_CHILD.value, _BATCH_SIZE.value, _MEMORY_LIMIT.value)
    return
  batch_size = _BATCH_SIZE.value
  with tempfile.TemporaryDirectory() as tmp:
    records = write_dataset(pathlib.Path(tmp), _RECORDS.value)
    train = training_split(records)
    record_mib = records.waveforms[0].nbytes / 2**20
    figures = {'records': len(records), 'train_records': len(train), 'batch_size': batch_size,
               'dataset_mib': len(records) * record_mib, 'batch_mib': batch_size * record_mib,
               'loader_records_per_s': loader_rate(train, batch_size, ahead=2),
               'loader_records_per_s_no_prefetch': loader_rate(train, batch_size, ahead=0),
               'grain_records_per_s': grain_rate(train, batch_size, workers=0),
               'grain_records_per_s_2_workers': grain_rate(train, batch_size, workers=2),
               'device': jax.devices()[0].device_kind}
    figures['model'] = model_rate((batch_size, *records.waveforms.shape[1:]), _MODEL_STEPS.value)
    figures['memory'] = [measure_memory(f'{tmp}/set', batch_size, limit)
                         for limit in (len(records) // 3, len(records))]
  step = figures['model']['records_per_s']
  print(f'{figures["records"]} records in {len(records.waveforms.parts)} shards, {figures["dataset_mib"]:.0f} MiB '
        f'on disk; batch {batch_size} = {figures["batch_mib"]:.1f} MiB; a split of {len(train)} records')
  print(f'pipeline (loader over the split): {figures["loader_records_per_s"]:.0f} records/s with prefetch, '
        f'{figures["loader_records_per_s_no_prefetch"]:.0f} without')
  if figures['grain_records_per_s'] is not None:
    print(f'Grain DataLoader over the split: {figures["grain_records_per_s"]:.0f} records/s, '
          f'{figures["grain_records_per_s_2_workers"]:.0f} with 2 worker processes')
  print(f'train step (default GA-Net on {figures["device"]}): {step:.1f} records/s; the pipeline reads '
        f'{figures["loader_records_per_s"] / step:.0f}x as fast')
  for memory in figures['memory']:
    print(f'one epoch over {memory["records"]} records ({memory["records"] * record_mib:.0f} MiB): peak anonymous '
          f'memory {memory["peak_rss_anon_mib"]:.0f} MiB ({memory["rss_anon_after_compile_mib"]:.0f} MiB after '
          f'compiling), peak resident incl. mapped file pages {memory["peak_vmhwm_mib"]:.0f} MiB')
  if _JSON.value:
    pathlib.Path(_JSON.value).write_text(json.dumps(figures, indent=2) + '\n')


if __name__ == '__main__':
  app.run(main)
