r"""Preparation rate (input records per second) of the ObsPy ingestion on real records.

  python -m benchmarks.prepare_rate --input=../shared/data/pnw --records=labels.csv \
      [--limit=200] [--repeats=1] [--json=prepare_rate.json]

Times ``ingest.prepare_records`` (read, label, resample, pick, window, detrend,
standardise) over the records table, without writing the output, and prints
records/s overall and for accepted records. A second repeat runs with the files
in the page cache, so the first repeat includes cold disk reads.
"""

from __future__ import annotations

import json
import pathlib
import platform
import time

from absl import app
from absl import flags

from ganet_jax.data import ingest
from ganet_jax.data import records_table

FLAGS = flags.FLAGS
flags.DEFINE_string('input', '../shared/data/pnw', 'Folder of the records.')
flags.DEFINE_string('records', 'labels.csv', 'Records table, relative to --input or absolute.')
flags.DEFINE_integer('limit', 0, 'Use only the first this many input records (0: all).')
flags.DEFINE_integer('repeats', 1, 'Timed passes over the records.')
flags.DEFINE_string('json', None, 'Also write the figures to this JSON file.')


def measure(records: list[records_table.InputRecord], repeats: int) -> list[dict[str, float]]:
  """One {seconds, records_per_s, accepted, rejected} dict per timed pass."""
  passes = []
  for _ in range(repeats):
    started = time.perf_counter()
    accepted, rejected = ingest.prepare_records(records, ingest.PrepareOptions())
    seconds = time.perf_counter() - started
    n_accepted = len(accepted) if accepted is not None else 0
    passes.append({'seconds': seconds, 'records_per_s': len(records) / seconds,
                   'accepted': n_accepted, 'rejected': len(rejected)})
  return passes


def main(argv):
  del argv
  root = pathlib.Path(FLAGS.input)
  table = pathlib.Path(FLAGS.records)
  records = records_table.read_records_table(table if table.is_absolute() else root / table, root)
  if FLAGS.limit:
    records = records[:FLAGS.limit]
  passes = measure(records, FLAGS.repeats)
  for number, figures in enumerate(passes, 1):
    print(f'pass {number}: {len(records)} records in {figures["seconds"]:.1f} s = '
          f'{figures["records_per_s"]:.1f} records/s ({figures["accepted"]} accepted, '
          f'{figures["rejected"]} rejected)')
  if FLAGS.json:
    pathlib.Path(FLAGS.json).write_text(json.dumps(
        {'input': str(root), 'records': len(records), 'machine': platform.processor() or platform.machine(),
         'passes': passes}, indent=2))


if __name__ == '__main__':
  app.run(main)
