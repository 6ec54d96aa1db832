"""A trained run, ensemble or pretrained model applied to files of records: the three CSVs of a run.

  counts = classify_files('runs/pnw', ['my_records/'], 'table.csv', pathlib.Path('predictions.csv'))

  <output>                  one row per classified record: p_tectonic, decision, P onset...
                            (an ensemble adds p_tectonic_<member> columns; p_tectonic is their mean)
  <output stem>_events.csv  one row per event: its records' p_tectonic combined by the model's
                            event rule, decision
  <output stem>_unclassified.csv  one row per record that could not be classified, with the reason
"""

from __future__ import annotations

import csv
import io
import pathlib
import sys
import time

from absl import logging

from ganet_jax import conventions
from ganet_jax.classify.classifier import Classifier
from ganet_jax.classify.decisions import decision, event_probabilities
from ganet_jax.data import ingest, labels as labels_lib, outputs, records_table, rejections
from ganet_jax.data import sources as sources_lib
from ganet_jax.training.checkpoint import LATEST

RECORD_COLUMNS = ('record_id', 'event_id', 'file', 'p_tectonic', 'decision', 'p_onset', 'p_method',
                  'channels_present', 'padded_s', 'distance_km', 'given_event_type', 'given_label', 'notes')
UNCLASSIFIED_COLUMNS = ('record', 'file', 'reason')
EVENT_COLUMNS = ('event_id', 'n_records', 'p_tectonic', 'decision', 'record_mean_p_tectonic', 'given_event_type',
                 'given_label')


def input_records(inputs: list[str], tables: str | list[str] | None, column_map: str
                  ) -> list[records_table.InputRecord]:
  """The records to classify (raises FileNotFoundError / ValueError naming the flag and path).

  A table without rows is refused: a run that classifies nothing must not end as a success.

  With tables, inputs and tables pair by position and are resolved as
  ``data.prepare`` resolves them (``sources.resolve_sources``). Without, every
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
      found = sources_lib.source_records(source, labels_lib.parse_mapping(column_map), labelled=False)[0]
      if not found:
        raise ValueError(f'--records: {source.table} has no rows: nothing to classify (give one row per waveform '
                         'file under a header)')
      records += found
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


def classify_files(checkpoint: str | list[str] | None, inputs: list[str], table: str | list[str] | None,
             output: pathlib.Path, *, which: str = LATEST, options: ingest.PrepareOptions | None = None,
             column_map: str = '', components: str | None = None, overwrite: bool = False,
             progress_every: int | None = None, pretrained: str | None = None,
             allow_unrecorded_preprocessing: bool = False) -> dict[str, object]:
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
    allow_unrecorded_preprocessing: classify with members that record no preprocessing
      (``Classifier.check_recorded_preprocessing``).

  Returns:
    {'input', 'classified', 'unclassified', 'events'} counts and 'reasons': the
    unclassified records' ``rejections.reason_kinds``.

  Raises:
    FileNotFoundError, ValueError: bad checkpoint, inputs, table or output, naming the path.
  """
  paths = output_paths(output)
  for path in paths.values():
    outputs.check_output_file(path, overwrite=overwrite)
  if pretrained is not None:
    classifier = Classifier.pretrained(pretrained, options=options, components=components,
                                       allow_unrecorded_preprocessing=allow_unrecorded_preprocessing)
  else:
    if not isinstance(checkpoint, str) and len(checkpoint) == 1:
      checkpoint = checkpoint[0]
    classifier = Classifier.from_checkpoint(checkpoint, which=which, options=options,
                                            components=components or conventions.COMPONENT_ORDER,
                                            allow_unrecorded_preprocessing=allow_unrecorded_preprocessing)
  classifier.check_recorded_preprocessing()  # before any file is read
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
          'reasons': rejections.reason_kinds(unclassified)}


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


def nothing_classified(counts: dict[str, object], output: pathlib.Path) -> str:
  """The error that ends a run in which none of its input records could be classified."""
  reasons = '; '.join(f'{kind.count} x {kind.example}' for kind in counts['reasons'][:3])
  return (f'error: none of the {counts["input"]} input records could be classified (reasons in '
          f'{output.with_name(output.stem + "_unclassified.csv")}: {reasons})')
