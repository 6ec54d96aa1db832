r"""Preparation rate (input records per second) of real records or of a SeisBench set, per core.

  python -m benchmarks.prepare_rate --input=../shared/data/pnw --records=labels.csv \
      [--limit=200] [--repeats=3] [--json=prepare_rate.json]
  python -m benchmarks.prepare_rate --format=seisbench --synthetic=1000 \
      --event_type_map="surface event=1,sonic boom=1,thunder=1"
  python -m benchmarks.prepare_rate --compare=/path/to/other/checkout [same flags]

Times ``ingest.prepare_records`` (read, label, resample, pick, window, detrend,
standardise) over the records table, or ``seisbench.read_dataset`` over a SeisBench
set (``--input``, or ``--synthetic=N`` traces written in PNW's layout, unchunked,
into a temporary folder), without writing the output. Each pass runs in a fresh
process (one core) after a warm-up on the first records, or on a small synthetic
set (imports, filter designs, file handles),
and reports records/s by wall clock and by the process's CPU time, which other
processes on a busy machine do not inflate.

With ``--compare=TREE`` the same passes run alternately with this checkout's
``ganet_jax`` and with TREE's (each process gets its tree on PYTHONPATH; each tree
goes first in turn), and the medians and their ratio (this / TREE) are printed: both
measured in the same minutes, under the same load. The load average is printed with
every figure.
"""

from __future__ import annotations

import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile

from absl import app
from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_string('input', '../shared/data/pnw', 'Folder of the records, or of the SeisBench set.')
flags.DEFINE_string('records', 'labels.csv', 'Records table, relative to --input or absolute (obspy format).')
flags.DEFINE_enum('format', 'obspy', ['obspy', 'seisbench'], 'Input kind, as experiments.prepare --format.')
flags.DEFINE_integer('synthetic', 0, 'SeisBench format: write a synthetic set of this many traces and time it '
                     'instead of --input.')
flags.DEFINE_string('event_type_map', '', 'As experiments.prepare --event_type_map.')
flags.DEFINE_integer('limit', 0, 'Use only the first this many input records (0: all; obspy format).')
flags.DEFINE_integer('warmup', 20, 'Records prepared before the timed pass (obspy format; with --synthetic, '
                     'a set of this many traces).')
flags.DEFINE_integer('repeats', 3, 'Timed passes (each in its own process); the median is reported.')
flags.DEFINE_string('compare', None, 'Another checkout of the project: time its ganet_jax too, alternating.')
flags.DEFINE_string('json', None, 'Also write the figures to this JSON file.')

# One timed pass, run in a fresh process with one tree's ganet_jax first on the path: only
# APIs that every version has, so any checkout can be timed with it.
PASS = r'''
import json, pathlib, sys, time
args = json.loads(sys.argv[1])
from ganet_jax.data import labels
mapping = labels.parse_mapping(args['event_type_map'])
if args['format'] == 'seisbench':
  from ganet_jax.data import seisbench
  if args['warmup_set']:
    seisbench.read_dataset(args['warmup_set'], event_type_map=mapping)
  def run():
    records, rejected = seisbench.read_dataset(args['input'], event_type_map=mapping)
    return len(records) if records is not None else 0, len(rejected)
else:
  from ganet_jax.data import ingest, records_table
  root = pathlib.Path(args['input'])
  table = pathlib.Path(args['records'])
  records = records_table.read_records_table(table if table.is_absolute() else root / table, root)
  records = records[:args['limit']] if args['limit'] else records
  options = ingest.PrepareOptions(event_type_map=mapping)
  ingest.prepare_records(records[:args['warmup']], options)
  def run():
    accepted, rejected = ingest.prepare_records(records, options)
    return len(accepted) if accepted is not None else 0, len(rejected)
wall, cpu = time.perf_counter(), time.process_time()
accepted, rejected = run()
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
print(json.dumps({'seconds': wall, 'cpu_seconds': cpu, 'accepted': accepted, 'rejected': rejected}))
'''


def timed_pass(tree: pathlib.Path, args: dict[str, object]) -> dict[str, float]:
  """One pass in a fresh process with ``tree`` first on PYTHONPATH: {seconds, cpu_seconds, accepted,
  rejected, records_per_s, records_per_cpu_s, load}."""
  env = {**os.environ, 'PYTHONPATH': str(tree), 'OMP_NUM_THREADS': '1', 'OPENBLAS_NUM_THREADS': '1',
         'MKL_NUM_THREADS': '1'}
  result = subprocess.run([sys.executable, '-c', PASS, json.dumps(args)], cwd=tree, env=env,
                          capture_output=True, text=True, check=False)
  if result.returncode:
    raise RuntimeError(f'the pass in {tree} failed:\n{result.stderr[-2000:]}')
  figures = json.loads(result.stdout.strip().splitlines()[-1])
  n = figures['accepted'] + figures['rejected']
  return {**figures, 'records_per_s': n / figures['seconds'], 'records_per_cpu_s': n / figures['cpu_seconds'],
          'load': os.getloadavg()[0]}


def measure(trees: dict[str, pathlib.Path], args: dict[str, object], repeats: int) -> dict[str, list[dict]]:
  """``repeats`` passes per tree, the trees alternating, so each sees the same load.

  Each goes first in turn (this, other; other, this; ...): the first pass after the
  synthetic set is written is the first to touch the memory its writer gave back,
  which costs more on some machines (a virtual machine's host backs those pages
  again), and that cost must not always fall on the same tree.
  """
  passes: dict[str, list[dict]] = {name: [] for name in trees}
  for number in range(repeats):
    order = list(trees.items())
    for name, tree in order if number % 2 == 0 else order[::-1]:
      figures = timed_pass(tree, args)
      passes[name].append(figures)
      print(f'{name} pass {number + 1}: {figures["accepted"] + figures["rejected"]} records in '
            f'{figures["seconds"]:.1f} s = {figures["records_per_s"]:.1f} records/s, '
            f'{figures["records_per_cpu_s"]:.1f} per CPU second ({figures["accepted"]} accepted, '
            f'{figures["rejected"]} rejected; load {figures["load"]:.2f})', flush=True)
  return passes


def summary(passes: dict[str, list[dict]]) -> dict[str, dict[str, float]]:
  """Median records/s (wall and CPU) per tree."""
  return {name: {'records_per_s': statistics.median(p['records_per_s'] for p in runs),
                 'records_per_cpu_s': statistics.median(p['records_per_cpu_s'] for p in runs),
                 'load': statistics.median(p['load'] for p in runs)} for name, runs in passes.items()}


def main(argv):
  del argv
  here = pathlib.Path(__file__).resolve().parents[1]
  trees = {'this': here}
  if FLAGS.compare:
    trees['compare'] = pathlib.Path(FLAGS.compare).resolve()
  with tempfile.TemporaryDirectory() as scratch:
    source = pathlib.Path(FLAGS.input).resolve()
    warmup_set = ''
    if FLAGS.synthetic:
      from ganet_jax.data import seisbench_writer  # only this checkout needs to have the writer
      source, warmup_set = pathlib.Path(scratch) / 'set', pathlib.Path(scratch) / 'warmup'
      seisbench_writer.write_synthetic_set(source, FLAGS.synthetic, chunks=0)
      seisbench_writer.write_synthetic_set(warmup_set, FLAGS.warmup, chunks=0, seed=1)
    args = {'format': FLAGS.format, 'input': str(source), 'records': FLAGS.records, 'limit': FLAGS.limit,
            'warmup': FLAGS.warmup, 'warmup_set': str(warmup_set), 'event_type_map': FLAGS.event_type_map}
    print(f'load before: {os.getloadavg()}', flush=True)
    passes = measure(trees, args, FLAGS.repeats)
  medians = summary(passes)
  for name, figures in medians.items():
    print(f'{name} ({trees[name]}): median {figures["records_per_s"]:.1f} records/s, '
          f'{figures["records_per_cpu_s"]:.1f} per CPU second (load {figures["load"]:.2f})')
  if FLAGS.compare:
    print(f'ratio this/compare: {medians["this"]["records_per_s"] / medians["compare"]["records_per_s"]:.2f} '
          f'by wall clock, {medians["this"]["records_per_cpu_s"] / medians["compare"]["records_per_cpu_s"]:.2f} '
          'by CPU time')
  if FLAGS.json:
    pathlib.Path(FLAGS.json).write_text(json.dumps(
        {'args': args, 'trees': {k: str(v) for k, v in trees.items()}, 'machine': platform.processor() or
         platform.machine(), 'passes': passes, 'medians': medians}, indent=2))


if __name__ == '__main__':
  app.run(main)
