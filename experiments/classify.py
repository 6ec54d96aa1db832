r"""Classify real recordings with a trained run or ensemble: tectonic or not, per record and per event.

  python -m experiments.classify --checkpoint=runs/pnw --input=my_records/ \
      --records=table.csv --output=predictions.csv
  python -m experiments.classify --checkpoint=runs/s0,runs/s1,runs/s2 ...   # seed ensemble: mean probability
  python -m experiments.classify --pretrained=pnw ...                      # weights shipped with the package

Each input record (the rows of one station's files of one event in --records, or without a
table the files grouped the same way from their headers, the event and P onset then coming from
SAC headers) is prepared
exactly as the training records were (``ganet_jax.data.ingest``) and classified;
--components=Z shows 3-component records to a vertical-only model (e.g. the pnw study's)
as its training records looked.
Writes:
  <output>                  one row per classified record: p_tectonic, decision, P onset...
                            (an ensemble adds p_tectonic_<member> columns; p_tectonic is their mean)
  <output stem>_events.csv  one row per event: mean p_tectonic of its records, decision
                            (records without an event id are grouped by origin time)
  <output stem>_unclassified.csv  one row per record that could not be classified, with the reason
"""

from __future__ import annotations

import csv
import io
import pathlib
import sys

from absl import app, flags, logging
import numpy as np

from experiments import configs
from ganet_jax import conventions
from ganet_jax.classify import Classifier, decision
from ganet_jax.data import ingest, labels as labels_lib, outputs, picking, preprocess, records_table
from ganet_jax.training.checkpoint import BEST, LATEST

FLAGS = flags.FLAGS
flags.DEFINE_list('checkpoint', None, 'Run folder written by experiments.train (config.json + checkpoints/), or '
                  'several, comma-separated: a seed ensemble whose probability is the mean of its members\'.')
flags.DEFINE_string('pretrained', None, 'A pretrained ensemble shipped with the package (e.g. pnw) or the folder '
                    'one was exported to (experiments.export_pretrained); instead of --checkpoint.')
flags.mark_flags_as_mutual_exclusive(['checkpoint', 'pretrained'], required=True)
flags.DEFINE_list('input', None, 'Waveform files and/or folders (searched recursively).', required=True)
flags.DEFINE_string('records', None, 'Records table CSV (file paths relative to its folder unless absolute); '
                    'columns as for experiments.prepare (event_id, origin_time, p_time, coordinates...).')
flags.DEFINE_string('output', 'predictions.csv', 'Per-record predictions CSV to write (the event and '
                    'unclassified CSVs go beside it).')
flags.DEFINE_bool('overwrite', False, 'Replace predictions already at --output (and the CSVs beside it).')
flags.DEFINE_integer('progress_every', 100, 'Log progress every this many records.')
flags.DEFINE_enum('which', LATEST, [LATEST, BEST], "Checkpoint: 'latest' (last epoch) or 'best' (by validation).")
flags.DEFINE_string('column_map', '', 'field=column pairs for the records table, as for experiments.prepare.')
flags.DEFINE_float('max_distance_km', 200.0, 'Epicentral distance limit where known, km (training: 200); '
                   '<= 0 disables it.')
flags.DEFINE_float('max_pad_s', 15.0, 'Longest tail shortfall of the window that is zero-padded, s.')
flags.DEFINE_string('components', None, "Components the model sees, others zero-filled: 'Z' for a model "
                    'trained on vertical-only records (as the pnw study), so 3-component input looks like its '
                    "training. Default: ZNE, or a pretrained ensemble's own.")
flags.DEFINE_enum('p_fallback', 'travel_time', ['travel_time', 'none'],
                  'Without a pick and an STA/LTA onset: origin (+ the iasp91 P travel time where the distance is '
                  'known) flagged, or reject.')

RECORD_COLUMNS = ('record_id', 'event_id', 'file', 'p_tectonic', 'decision', 'p_onset', 'p_method',
                  'channels_present', 'padded_s', 'distance_km', 'given_event_type', 'given_label', 'notes')
UNCLASSIFIED_COLUMNS = ('record', 'file', 'reason')
EVENT_COLUMNS = ('event_id', 'n_records', 'p_tectonic', 'decision', 'given_event_type')


def input_records(inputs: list[str], table: str | None, column_map: str) -> list[records_table.InputRecord]:
  """The records to classify (raises FileNotFoundError / ValueError naming the path).

  Files found in folders that are not waveforms are logged with the reason they are skipped.
  """
  for name in inputs:
    if not pathlib.Path(name).exists():
      raise FileNotFoundError(f'--input: {name} does not exist')
  if table:
    path = pathlib.Path(table)
    if not path.is_absolute() and not path.exists() and pathlib.Path(inputs[0]).is_dir():
      path = pathlib.Path(inputs[0]) / path
    if not path.is_file():
      raise FileNotFoundError(f'--records: {table} is {"a folder" if path.is_dir() else "not a file"}')
    return records_table.read_records_table(path, path.parent, labels_lib.parse_mapping(column_map), labelled=False)
  files = []
  for name in inputs:
    path = pathlib.Path(name)
    if path.is_dir():
      found, skipped = records_table.scan_folder(path)
      files += found
      for skipped_path, reason in skipped:
        logging.warning('skipped %s: %s', skipped_path, reason)
    else:
      files.append(path)
  if not files:
    raise FileNotFoundError(f'--input: no waveform files in {", ".join(inputs)}')
  return records_table.records_from_files(files)


def _options() -> ingest.PrepareOptions:
  """The preparation flags (the window length comes from the checkpoint)."""
  config = preprocess.PreprocessConfig(max_distance_km=preprocess.distance_limit(FLAGS.max_distance_km),
                                       max_pad_s=FLAGS.max_pad_s)
  return ingest.PrepareOptions(preprocess=config, picker=picking.PickerConfig(), p_fallback=FLAGS.p_fallback)


def member_columns(names: list[str]) -> list[str]:
  """The per-member probability columns of an ensemble (none for a single run: its p_tectonic is its own)."""
  return [f'p_tectonic_{name}' for name in names] if len(names) > 1 else []


def record_rows(classified, threshold: float, names: list[str] | None = None) -> list[dict[str, str]]:
  """One output row per classified record (``Classifier.classify_records``' records; ``names``: the members')."""
  columns = member_columns(names or [])
  rows = []
  for record, prepared, p, p_members in classified:
    rows.append({'record_id': prepared.record_id, 'event_id': prepared.event_id, 'file': record.file_names,
                 'p_tectonic': f'{p:.6f}', 'decision': decision(p, threshold),
                 'given_event_type': record.field('event_type'), 'given_label': record.field('label'),
                 **{k: prepared.extra.get(k, '') for k in ('p_onset', 'p_method', 'channels_present',
                                                          'padded_s', 'distance_km', 'notes')},
                 **{column: f'{pm:.6f}' for column, pm in zip(columns, p_members)}})
  return rows


def event_rows(rows: list[dict[str, str]], threshold: float, names: list[str] | None = None) -> list[dict[str, str]]:
  """One row per event: the mean of its records' probabilities (``metrics.event_probabilities``' rule).

  An ensemble's event probability is the mean over its records of their members' mean,
  which equals the mean over members of each member's event probability (also written).
  """
  by_event: dict[str, list[dict[str, str]]] = {}
  for row in rows:
    by_event.setdefault(row['event_id'], []).append(row)
  events = []
  for event_id, members in by_event.items():
    p = float(np.mean([float(r['p_tectonic']) for r in members]))
    given = sorted({r['given_event_type'] for r in members} - {''})
    events.append({'event_id': event_id, 'n_records': str(len(members)), 'p_tectonic': f'{p:.6f}',
                   'decision': decision(p, threshold), 'given_event_type': ';'.join(given),
                   **{c: f'{np.mean([float(r[c]) for r in members]):.6f}' for c in member_columns(names or [])}})
  return events


def csv_text(columns, rows) -> str:
  """The CSV text of ``rows`` (dicts; keys outside ``columns`` left out)."""
  buffer = io.StringIO()
  writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction='ignore')
  writer.writeheader()
  writer.writerows(rows)
  return buffer.getvalue()


def output_paths(output: pathlib.Path) -> dict[str, pathlib.Path]:
  """The three CSVs a run writes: 'records' (``output``), 'events' and 'unclassified' beside it."""
  return {'records': output, 'events': output.with_name(output.stem + '_events.csv'),
          'unclassified': output.with_name(output.stem + '_unclassified.csv')}


def classify(checkpoint: str | list[str] | None, inputs: list[str], table: str | None, output: pathlib.Path, *,
             which: str = LATEST, options: ingest.PrepareOptions | None = None,
             column_map: str = '', components: str | None = None, overwrite: bool = False,
             progress_every: int = 100, pretrained: str | None = None) -> dict[str, int]:
  """Classify the inputs and write the three CSVs; returns the counts.

  The outputs are checked before anything is read, and written together under
  temporary names then moved into place, so they never mix two runs.

  Args:
    checkpoint: the run folder, or several (an ensemble); None with ``pretrained``.
    inputs: waveform files and/or folders.
    table: optional records table.
    output: the per-record CSV; the event and unclassified CSVs go beside it.
    which: 'latest' or 'best' checkpoint.
    options: preparation options (default: the training defaults).
    column_map: field=column pairs for the table.
    components: components the model sees (``Classifier.components``); None: all three,
      or a pretrained ensemble's own.
    overwrite: replace an earlier run's CSVs.
    progress_every: log progress every this many records.
    pretrained: a shipped ensemble's name or an exported ensemble's folder, instead of ``checkpoint``.

  Returns:
    {'input', 'classified', 'unclassified', 'events'} counts.

  Raises:
    FileNotFoundError, ValueError: bad checkpoint, inputs, table or output, naming the path.
  """
  paths = output_paths(output)
  for path in paths.values():
    outputs.check_output_file(path, overwrite=overwrite)
  if pretrained is not None:
    classifier = Classifier.pretrained(pretrained, options=options, components=components)
  else:
    if not isinstance(checkpoint, str) and len(checkpoint) == 1:
      checkpoint = checkpoint[0]
    classifier = Classifier.from_checkpoint(checkpoint, which=which, options=options,
                                            components=components or conventions.COMPONENT_ORDER)
  records = input_records(inputs, table, column_map)

  def progress(done: int, prepared: int, unclassified: int) -> None:
    if done % progress_every == 0 or done == len(records):
      logging.info('%d/%d records prepared, %d unclassified', done, len(records), unclassified)

  classified, unclassified = classifier.classify_records(records, progress)
  names = [member.name for member in classifier.members]
  rows = record_rows(classified, classifier.threshold, names)
  events = event_rows(rows, classifier.threshold, names)
  outputs.write_files_together({paths['records']: csv_text(RECORD_COLUMNS + tuple(member_columns(names)), rows),
                                paths['events']: csv_text(EVENT_COLUMNS + tuple(member_columns(names)), events),
                                paths['unclassified']: csv_text(UNCLASSIFIED_COLUMNS, unclassified)})
  return {'input': len(records), 'classified': len(rows), 'unclassified': len(unclassified), 'events': len(events)}


def main(argv):
  configs.start(argv)
  output = pathlib.Path(FLAGS.output)
  try:
    if FLAGS.progress_every < 1:
      raise ValueError(f'--progress_every={FLAGS.progress_every}: must be >= 1')
    counts = classify(FLAGS.checkpoint, FLAGS.input, FLAGS.records, output, which=FLAGS.which,
                      options=_options(), column_map=FLAGS.column_map, components=FLAGS.components,
                      overwrite=FLAGS.overwrite, progress_every=FLAGS.progress_every, pretrained=FLAGS.pretrained)
  except (FileNotFoundError, ValueError) as error:
    raise app.UsageError(str(error)) from None
  print(f'{counts["input"]} input records: {counts["classified"]} classified ({counts["events"]} events), '
        f'{counts["unclassified"]} unclassified (reasons in {output.stem}_unclassified.csv) -> {output}')


if __name__ == '__main__':
  sys.exit(app.run(main))
