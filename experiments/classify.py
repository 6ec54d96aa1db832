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
as its training records looked. --input and --records are read as experiments.prepare
reads them (``ganet_jax.data.sources``): repeat --input for several folders, each with
its --records (absolute, or relative to its --input; file paths in it relative to the
--input too). A record the model cannot see (e.g. recorded at a rate whose Nyquist
frequency is below the model's band-pass) is listed unclassified with the reason.
A pretrained model's stated limits are shown as a warning when it is loaded. A run in
which no input record could be classified exits with an error.
Writes:
  <output>                  one row per classified record: p_tectonic, decision, P onset...
                            (an ensemble adds p_tectonic_<member> columns; p_tectonic is their mean)
  <output stem>_events.csv  one row per event: its number of records, their p_tectonic combined
                            by the model's event rule (a pretrained card's ``aggregation``; default
                            their mean) and its decision, their plain mean beside it, the event type
                            and label the table gave (records without an event id are grouped by
                            origin time)
  <output stem>_unclassified.csv  one row per record that could not be classified, with the reason
"""

from __future__ import annotations

import csv
import io
import pathlib
import sys
import time

from absl import app, flags, logging

from experiments import configs, faults
from ganet_jax import conventions
from ganet_jax.classify import Classifier, decision
from ganet_jax.classify.classifier import event_probabilities
from ganet_jax.data import ingest, labels as labels_lib, outputs, picking, preprocess, records_table
from ganet_jax.data import sources as sources_lib
from ganet_jax.training.checkpoint import BEST, LATEST

FLAGS = flags.FLAGS
flags.DEFINE_list('checkpoint', None, 'Run folder written by experiments.train (config.json + checkpoints/), or '
                  'several, comma-separated: a seed ensemble whose probability is the mean of its members\'.')
flags.DEFINE_string('pretrained', None, 'A pretrained model shipped with the package (e.g. pnw) or the folder '
                    'one was exported to (experiments.export_pretrained); instead of --checkpoint.')
flags.mark_flags_as_mutual_exclusive(['checkpoint', 'pretrained'], required=True)
flags.DEFINE_multi_string('input', None, 'Waveform files and/or folders (searched recursively); repeat it (or '
                          'separate by commas) for several. With --records: folders, one per table.', required=True)
flags.DEFINE_multi_string('records', None, 'Records table CSV, one per --input in the same order, as for '
                          'experiments.prepare: absolute or relative to its --input, and its file paths relative '
                          'to that --input unless absolute; columns as for experiments.prepare (event_id, '
                          'origin_time, p_time, coordinates...).')
flags.DEFINE_string('output', 'predictions.csv', 'Per-record predictions CSV to write (the event and '
                    'unclassified CSVs go beside it).')
flags.DEFINE_bool('overwrite', False, 'Replace predictions already at --output (and the CSVs beside it).')
flags.DEFINE_integer('progress_every', 100, 'Print progress (records/s, ETA) to stderr every this many records; '
                     'shown by default when stderr is a terminal, always when this flag is given.')
flags.DEFINE_enum('which', LATEST, [LATEST, BEST], "Checkpoint: 'latest' (last epoch) or 'best' (by validation).")
flags.DEFINE_string('column_map', '', 'field=column pairs for the records table, as for experiments.prepare.')
flags.DEFINE_float('max_distance_km', 200.0, 'Epicentral distance limit where known, km (training: 200); '
                   '<= 0 disables it.')
flags.DEFINE_float('max_pad_s', 15.0, 'Longest tail shortfall of the window that is zero-padded, s.')
flags.DEFINE_string('components', None, "Components the model sees, others zero-filled: 'Z' for a model "
                    'trained on vertical-only records (as the pnw study), so 3-component input looks like its '
                    "training. Default: ZNE, or a pretrained model's own.")
flags.DEFINE_enum('p_fallback', 'travel_time', ['travel_time', 'none'],
                  'Without a pick and an STA/LTA onset: origin (+ the iasp91 P travel time where the distance is '
                  'known) flagged, or reject.')

RECORD_COLUMNS = ('record_id', 'event_id', 'file', 'p_tectonic', 'decision', 'p_onset', 'p_method',
                  'channels_present', 'padded_s', 'distance_km', 'given_event_type', 'given_label', 'notes')
UNCLASSIFIED_COLUMNS = ('record', 'file', 'reason')
EVENT_COLUMNS = ('event_id', 'n_records', 'p_tectonic', 'decision', 'record_mean_p_tectonic', 'given_event_type',
                 'given_label')


def input_records(inputs: list[str], tables: str | list[str] | None, column_map: str
                  ) -> list[records_table.InputRecord]:
  """The records to classify (raises FileNotFoundError / ValueError naming the flag and path).

  With tables, inputs and tables pair by position and are resolved as
  ``experiments.prepare`` resolves them (``sources.resolve_sources``). Without, every
  file given and every file under a folder given is a record; files in folders that
  are not waveforms are logged with the reason they are skipped.
  """
  for name in inputs:
    if not pathlib.Path(name).exists():
      raise FileNotFoundError(f'--input: {name} does not exist')
  tables = [tables] if isinstance(tables, str) else list(tables or [])
  if tables:
    records = []
    for source in sources_lib.resolve_sources(inputs, tables):
      records += sources_lib.source_records(source, labels_lib.parse_mapping(column_map), labelled=False)[0]
    return records
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


def split_inputs(values: list[str]) -> list[str]:
  """--input values, each possibly a comma-separated list, as one list of paths."""
  return [part for value in values for part in value.split(',') if part]


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


def event_rows(rows: list[dict[str, str]], threshold: float, names: list[str] | None = None, *,
               rule: str = 'mean_probability', learned_rule=None) -> list[dict[str, str]]:
  """One row per event, its records' probabilities combined by ``rule`` (``evaluation.aggregation``).

  The default, 'mean_probability', is ``metrics.event_probabilities``' rule: an
  ensemble's event probability is then the mean over its records of their members'
  mean, which equals the mean over members of each member's event probability (also
  written). Per-member columns are combined by the same rule. Beside the rule's value,
  ``record_mean_p_tectonic`` is the plain mean of the records' probabilities, so a rule
  that departs from what the records say shows; ``n_records``, and the event type and
  label the table gave (';'-joined where its rows differ), are written as given.
  """
  if not rows:
    return []
  event_ids = [row['event_id'] for row in rows]
  combine = lambda column: dict(zip(*event_probabilities(event_ids, [float(r[column]) for r in rows], rule,
                                                         learned_rule)))
  p_event = combine('p_tectonic')
  p_mean = dict(zip(*event_probabilities(event_ids, [float(r['p_tectonic']) for r in rows])))
  p_members = {column: combine(column) for column in member_columns(names or [])}
  by_event: dict[str, list[dict[str, str]]] = {}
  for row in rows:
    by_event.setdefault(row['event_id'], []).append(row)
  events = []
  for event_id, p in p_event.items():
    members = by_event[event_id]
    given = lambda column: ';'.join(sorted({r[column] for r in members} - {''}))
    events.append({'event_id': event_id, 'n_records': str(len(members)), 'p_tectonic': f'{p:.6f}',
                   'decision': decision(p, threshold), 'record_mean_p_tectonic': f'{p_mean[event_id]:.6f}',
                   'given_event_type': given('given_event_type'), 'given_label': given('given_label'),
                   **{column: f'{values[event_id]:.6f}' for column, values in p_members.items()}})
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


def classify(checkpoint: str | list[str] | None, inputs: list[str], table: str | list[str] | None,
             output: pathlib.Path, *, which: str = LATEST, options: ingest.PrepareOptions | None = None,
             column_map: str = '', components: str | None = None, overwrite: bool = False,
             progress_every: int | None = None, pretrained: str | None = None) -> dict[str, object]:
  """Classify the inputs and write the three CSVs; returns the counts.

  The outputs are checked before anything is read, and written together under
  temporary names then moved into place, so they never mix two runs.

  Args:
    checkpoint: the run folder, or several (an ensemble); None with ``pretrained``.
    inputs: waveform files and/or folders.
    table: optional records table, or one per input (paired by position; see ``input_records``).
    output: the per-record CSV; the event and unclassified CSVs go beside it.
    which: 'latest' or 'best' checkpoint.
    options: preparation options (default: the training defaults).
    column_map: field=column pairs for the table.
    components: components the model sees (``Classifier.components``); None: all three,
      or a pretrained model's own.
    overwrite: replace an earlier run's CSVs.
    progress_every: print progress to stderr every this many records; None: none.
    pretrained: a shipped model's name or an exported model's folder, instead of ``checkpoint``.

  Returns:
    {'input', 'classified', 'unclassified', 'events'} counts and 'reasons': the
    unclassified records' ``ingest.reason_kinds``.

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
  progress = progress_printer(len(records), progress_every) if progress_every else None
  classified, unclassified = classifier.classify_records(records, progress)
  names = [member.name for member in classifier.members]
  rows = record_rows(classified, classifier.threshold, names)
  events = event_rows(rows, classifier.threshold, names, rule=classifier.aggregation,
                      learned_rule=classifier.learned_aggregation)
  outputs.write_files_together({paths['records']: csv_text(RECORD_COLUMNS + tuple(member_columns(names)), rows),
                                paths['events']: csv_text(EVENT_COLUMNS + tuple(member_columns(names)), events),
                                paths['unclassified']: csv_text(UNCLASSIFIED_COLUMNS, unclassified)})
  return {'input': len(records), 'classified': len(rows), 'unclassified': len(unclassified), 'events': len(events),
          'reasons': ingest.reason_kinds(unclassified)}


def progress_printer(total: int, every: int, stream=None):
  """A ``progress(done, prepared, unclassified)`` callback printing a line every ``every`` records.

  Each line gives records/s and the time left; lines go to ``stream`` (default stderr),
  so the summary on stdout stays one line.
  """
  started = time.perf_counter()

  def report(done: int, prepared: int, unclassified: int) -> None:
    if done % every and done != total:
      return
    rate = done / max(time.perf_counter() - started, 1e-9)
    print(f'{done}/{total} records prepared, {unclassified} unclassified ({rate:.1f} records/s, '
          f'{(total - done) / rate:.0f} s left)', file=stream or sys.stderr, flush=True)
  return report


def progress_interval() -> int | None:
  """Records between progress lines: --progress_every when given, its default when stderr is a terminal, else none."""
  if FLAGS['progress_every'].present or sys.stderr.isatty():
    return FLAGS.progress_every
  return None


def nothing_classified(counts: dict[str, object], output: pathlib.Path) -> str:
  """The error that ends a run in which none of its input records could be classified."""
  reasons = '; '.join(f'{kind.count} x {kind.example}' for kind in counts['reasons'][:3])
  return (f'error: none of the {counts["input"]} input records could be classified (reasons in '
          f'{output.with_name(output.stem + "_unclassified.csv")}: {reasons})')


def main(argv):
  with faults.one_line('classifying'):
    try:
      # held from the outputs' check to their move into place: two runs on one --output never both write it
      with outputs.output_lock(FLAGS.output, flag='--output'):
        _main(argv)
    except ValueError as error:  # another run writes --output, or its lock cannot be made
      raise app.UsageError(str(error)) from None


def _main(argv):
  configs.start(argv)
  output = pathlib.Path(FLAGS.output)
  try:
    if FLAGS.progress_every < 1:
      raise ValueError(f'--progress_every={FLAGS.progress_every}: must be >= 1')
    counts = classify(FLAGS.checkpoint, split_inputs(FLAGS.input), FLAGS.records, output, which=FLAGS.which,
                      options=_options(), column_map=FLAGS.column_map, components=FLAGS.components,
                      overwrite=FLAGS.overwrite, progress_every=progress_interval(), pretrained=FLAGS.pretrained)
  except (FileNotFoundError, ValueError) as error:
    raise app.UsageError(str(error)) from None
  print(f'{counts["input"]} input records: {counts["classified"]} classified ({counts["events"]} events), '
        f'{counts["unclassified"]} unclassified (reasons in {output.stem}_unclassified.csv) -> {output}')
  if counts['input'] and not counts['classified']:
    sys.exit(nothing_classified(counts, output))


if __name__ == '__main__':
  sys.exit(app.run(main))
