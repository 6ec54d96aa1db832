r"""Classify real recordings with a trained run: tectonic or not, per record and per event.

  python -m experiments.classify --checkpoint=runs/pnw --input=my_records/ \
      --records=table.csv --output=predictions.csv

Each input record (the rows of one station's files in --records, or one file each
without a table, the event and P onset then coming from SAC headers) is prepared
exactly as the training records were (``ganet_jax.data.ingest``) and classified;
--components=Z shows 3-component records to a vertical-only model (e.g. the pnw study's)
as its training records looked.
Writes:
  <output>                  one row per classified record: p_tectonic, decision, P onset...
  <output stem>_events.csv  one row per event: mean p_tectonic of its records, decision
                            (records without an event id are grouped by origin time)
  <output stem>_unclassified.csv  one row per record that could not be classified, with the reason
"""

from __future__ import annotations

import csv
import pathlib
import sys

from absl import app, flags, logging
import numpy as np

from ganet_jax.classify import Classifier, decision
from ganet_jax.data import ingest, labels as labels_lib, picking, preprocess, records_table
from ganet_jax.training.checkpoint import BEST, LATEST

FLAGS = flags.FLAGS
flags.DEFINE_string('checkpoint', None, 'Run folder written by experiments.train (config.json + checkpoints/).',
                    required=True)
flags.DEFINE_list('input', None, 'Waveform files and/or folders (searched recursively).', required=True)
flags.DEFINE_string('records', None, 'Records table CSV (file paths relative to its folder unless absolute); '
                    'columns as for experiments.prepare (event_id, origin_time, p_time, coordinates...).')
flags.DEFINE_string('output', 'predictions.csv', 'Per-record predictions CSV to write.')
flags.DEFINE_enum('which', LATEST, [LATEST, BEST], "Checkpoint: 'latest' (last epoch) or 'best' (by validation).")
flags.DEFINE_string('column_map', '', 'field=column pairs for the records table, as for experiments.prepare.')
flags.DEFINE_float('max_distance_km', 200.0, 'Epicentral distance limit where known, km (training: 200); '
                   '<= 0 disables it.')
flags.DEFINE_float('max_pad_s', 15.0, 'Longest tail shortfall of the window that is zero-padded, s.')
flags.DEFINE_string('components', 'ZNE', "Components the model sees, others zero-filled: 'Z' for a model "
                    'trained on vertical-only records (as the pnw study), so 3-component input looks like its training.')
flags.DEFINE_enum('p_fallback', 'travel_time', ['travel_time', 'none'],
                  'Without a pick and an STA/LTA onset: origin (+ distance/6 km/s) flagged, or reject.')

RECORD_COLUMNS = ('record_id', 'event_id', 'file', 'p_tectonic', 'decision', 'p_onset', 'p_method',
                  'channels_present', 'padded_s', 'distance_km', 'given_event_type', 'given_label', 'notes')
WAVEFORM_SKIP = ('.csv', '.txt', '.xml', '.md', '.json')


def input_records(inputs: list[str], table: str | None, column_map: str) -> list[records_table.InputRecord]:
  """The records to classify (raises FileNotFoundError / ValueError naming the path)."""
  for name in inputs:
    if not pathlib.Path(name).exists():
      raise FileNotFoundError(f'--input: {name} does not exist')
  if table:
    path = pathlib.Path(table)
    if not path.is_absolute() and not path.exists() and pathlib.Path(inputs[0]).is_dir():
      path = pathlib.Path(inputs[0]) / path
    if not path.is_file():
      raise FileNotFoundError(f'--records: {table} is not a file')
    return records_table.read_records_table(path, path.parent, labels_lib.parse_mapping(column_map))
  files = []
  for name in inputs:
    path = pathlib.Path(name)
    found = sorted(p for p in path.rglob('*') if p.is_file()) if path.is_dir() else [path]
    files += [p for p in found if p.suffix.lower() not in WAVEFORM_SKIP]
  if not files:
    raise FileNotFoundError(f'--input: no waveform files in {", ".join(inputs)}')
  return records_table.records_from_files(files)


def _options() -> ingest.PrepareOptions:
  """The preparation flags (the window length comes from the checkpoint)."""
  config = preprocess.PreprocessConfig(max_distance_km=FLAGS.max_distance_km if FLAGS.max_distance_km > 0 else None,
                                       max_pad_s=FLAGS.max_pad_s)
  return ingest.PrepareOptions(preprocess=config, picker=picking.PickerConfig(), p_fallback=FLAGS.p_fallback)


def record_rows(classified, threshold: float) -> list[dict[str, str]]:
  """One output row per classified record."""
  rows = []
  for record, prepared, p in classified:
    rows.append({'record_id': prepared.record_id, 'event_id': prepared.event_id, 'file': record.file_names,
                 'p_tectonic': f'{p:.6f}', 'decision': decision(p, threshold),
                 'given_event_type': record.field('event_type'), 'given_label': record.field('label'),
                 **{k: prepared.extra.get(k, '') for k in ('p_onset', 'p_method', 'channels_present',
                                                          'padded_s', 'distance_km', 'notes')}})
  return rows


def event_rows(rows: list[dict[str, str]], threshold: float) -> list[dict[str, str]]:
  """One row per event: the mean of its records' probabilities (``metrics.event_probabilities``' rule)."""
  by_event: dict[str, list[dict[str, str]]] = {}
  for row in rows:
    by_event.setdefault(row['event_id'], []).append(row)
  events = []
  for event_id, members in by_event.items():
    p = float(np.mean([float(r['p_tectonic']) for r in members]))
    given = sorted({r['given_event_type'] for r in members} - {''})
    events.append({'event_id': event_id, 'n_records': str(len(members)), 'p_tectonic': f'{p:.6f}',
                   'decision': decision(p, threshold), 'given_event_type': ';'.join(given)})
  return events


def write_csv(path: pathlib.Path, columns, rows) -> None:
  with open(path, 'w', newline='') as f:
    writer = csv.DictWriter(f, fieldnames=list(columns))
    writer.writeheader()
    writer.writerows(rows)


def classify(checkpoint: str, inputs: list[str], table: str | None, output: pathlib.Path, *,
             which: str = LATEST, options: ingest.PrepareOptions | None = None,
             column_map: str = '', components: str = 'ZNE') -> dict[str, int]:
  """Classify the inputs and write the three CSVs; returns the counts.

  Args:
    checkpoint: the run folder.
    inputs: waveform files and/or folders.
    table: optional records table.
    output: the per-record CSV; the event and unclassified CSVs go beside it.
    which: 'latest' or 'best' checkpoint.
    options: preparation options (default: the training defaults).
    column_map: field=column pairs for the table.
    components: components the model sees (``Classifier.components``).

  Returns:
    {'input', 'classified', 'unclassified', 'events'} counts.

  Raises:
    FileNotFoundError, ValueError: bad checkpoint, inputs or table, naming the path.
  """
  classifier = Classifier.from_checkpoint(checkpoint, which=which, options=options, components=components)
  records = input_records(inputs, table, column_map)
  classified, unclassified = classifier.classify_records(records)
  rows = record_rows(classified, classifier.threshold)
  events = event_rows(rows, classifier.threshold)
  output.parent.mkdir(parents=True, exist_ok=True)
  write_csv(output, RECORD_COLUMNS, rows)
  write_csv(output.with_name(output.stem + '_events.csv'),
            ('event_id', 'n_records', 'p_tectonic', 'decision', 'given_event_type'), events)
  write_csv(output.with_name(output.stem + '_unclassified.csv'), ('record', 'file', 'reason'), unclassified)
  return {'input': len(records), 'classified': len(rows), 'unclassified': len(unclassified), 'events': len(events)}


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  if not FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)
  output = pathlib.Path(FLAGS.output)
  try:
    counts = classify(FLAGS.checkpoint, FLAGS.input, FLAGS.records, output, which=FLAGS.which,
                      options=_options(), column_map=FLAGS.column_map, components=FLAGS.components)
  except (FileNotFoundError, ValueError) as error:
    raise app.UsageError(str(error)) from None
  print(f'{counts["input"]} input records: {counts["classified"]} classified ({counts["events"]} events), '
        f'{counts["unclassified"]} unclassified (reasons in {output.stem}_unclassified.csv) -> {output}')


if __name__ == '__main__':
  sys.exit(app.run(main))
