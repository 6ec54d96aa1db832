r"""Classify a table of your own waveform files from Python with the shipped pretrained model.

  python -m examples.classify_table                          # a few pnw files, table written here
  python -m examples.classify_table --records=my_table.csv   # your own table

The records table is a CSV with one row per file. To classify, it needs a file column
and, unless the files' SAC headers carry it, the event's origin time (the P onset is
picked after it); an ``event_id`` groups records into events. Everything else
(``p_time``, station and event coordinates, ``network``/``station``/``channel`` to
join one station's component files) is optional, and the event type, when given, is
never used. The preparation is the one the model's training records went through
(rate, band-pass, window, P picker, read from its card), and a record that cannot be
prepared is listed with its reason instead of stopping the run.

Without ``--records`` the example writes such a minimal table (``file``, ``event_id``,
``origin_time``) for seven files of two events of the shipped pnw records: an
explosion and an earthquake, each with a 1 Hz long-period channel that is refused.
"""

from __future__ import annotations

import argparse
import csv
import pathlib
import tempfile
from typing import Any, Sequence

from ganet_jax.classify import Classifier, decision
from ganet_jax.data.records_table import read_records_table

REPOSITORY = pathlib.Path(__file__).resolve().parents[1]
PNW = REPOSITORY.parent / 'shared' / 'data' / 'pnw'
# An explosion (two stations) and an earthquake (two stations), each with a 1 Hz LHZ file.
DEFAULT_FILES = ('uw61506451_PB.B035.EHZ.mseed', 'uw61506451_PB.B035.LHZ.mseed', 'uw61506451_PB.B036.EHZ.mseed',
                 'uw61377746_PB.B030.EHZ.mseed', 'uw61377746_PB.B030.LHZ.mseed', 'uw61377746_UO.NATH.HHZ.mseed',
                 'uw61377746_UW.HBO.EHZ.mseed')


def write_minimal_table(data_dir: pathlib.Path, names: Sequence[str], path: pathlib.Path) -> pathlib.Path:
  """A records table with only ``file``, ``event_id`` and ``origin_time``, taken from ``data_dir/labels.csv``.

  File paths are written absolute, so the table may live anywhere.
  """
  with open(data_dir / 'labels.csv', newline='') as f:
    rows = {pathlib.Path(row['file']).name: row for row in csv.DictReader(f)}
  missing = [name for name in names if name not in rows]
  if missing:
    raise ValueError(f'{data_dir / "labels.csv"}: no row for {missing}')
  with open(path, 'w', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(['file', 'event_id', 'origin_time'])
    for name in names:
      row = rows[name]
      writer.writerow([str((data_dir / row['file']).resolve()), row['event_id'], row['origin_time']])
  return path


def classify_table(records_table: pathlib.Path, pretrained: str = 'pnw') -> dict[str, Any]:
  """Classify every record of ``records_table`` with a pretrained model.

  Args:
    records_table: the CSV (file paths relative to its folder unless absolute).
    pretrained: a shipped model's name or the folder ``export_pretrained`` wrote.

  Returns:
    {'records': [(record_id, event_id, p_tectonic, decision)],
     'events': {event_id: p_tectonic by the model's event rule (its card's aggregation)},
     'unclassified': [(file, reason)]}.
  """
  # labelled=False: a table without event type or label columns is fine for classifying
  records = read_records_table(records_table, labelled=False)
  classifier = Classifier.pretrained(pretrained)
  classified, unclassified = classifier.classify_records(records)
  rows = [(c.prepared.record_id, c.prepared.event_id, c.p_tectonic, decision(c.p_tectonic, classifier.threshold))
          for c in classified]
  events, p_events = classifier.event_probabilities([row[1] for row in rows], [row[2] for row in rows])
  return {'records': rows, 'events': dict(zip(events, p_events.tolist())),
          'unclassified': [(line['file'], line['reason']) for line in unclassified]}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--records', type=pathlib.Path, help='records table CSV (default: a few pnw files)')
  parser.add_argument('--data', type=pathlib.Path, default=PNW, help='pnw folder for the default table')
  parser.add_argument('--pretrained', default='pnw')
  args = parser.parse_args(argv)
  with tempfile.TemporaryDirectory() as folder:
    table = args.records or write_minimal_table(args.data, DEFAULT_FILES, pathlib.Path(folder) / 'records.csv')
    result = classify_table(table, args.pretrained)
  for record_id, event_id, p, label in result['records']:
    print(f'{record_id:<32} p_tectonic {p:.3f}  {label}')
  for event_id, p in result['events'].items():
    print(f'event {event_id}: mean p_tectonic {p:.3f}, {decision(p)}')
  for file, reason in result['unclassified']:
    print(f'unclassified {pathlib.Path(file).name}: {reason}')
  return result


if __name__ == '__main__':
  main()
