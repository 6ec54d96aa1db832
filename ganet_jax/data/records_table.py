"""The records table: one CSV row per file (or per station record) and its column names.

Column names differ between sources, so each field the preparation needs is
looked up under a few usual spellings (``COLUMN_CANDIDATES``) unless a flag names
the column. Rows of one station's recording of one event (e.g. the BHZ, BHN and
BHE files of a 3-component record) are grouped into one input record, by event
first (``grouping``).
"""

from __future__ import annotations

import csv
import dataclasses
import pathlib
from typing import Mapping, Sequence

import obspy

from ganet_jax.data import file_checks
from ganet_jax.data import grouping

# Suffixes of files that are usually tables, catalogs or notes rather than waveforms.
NON_WAVEFORM_SUFFIXES = ('.csv', '.txt', '.xml', '.md', '.json')

# Field -> column names tried in order when no explicit mapping is given.
COLUMN_CANDIDATES = {
    'file': ('file', 'path', 'fpath', 'filename', 'trace_file'),
    'event_id': ('event_id', 'event', 'evid', 'source_id', 'event_dir'),
    'origin_time': ('origin_time', 'origin', 'source_origin_time', 'event_time'),
    'event_type': ('event_type', 'source_type', 'type'),
    'label': ('label',),
    'p_time': ('p_time', 'p_arrival_time', 'p_onset', 'p_pick'),
    'event_latitude': ('event_latitude', 'evla', 'source_latitude_deg', 'latitude'),
    'event_longitude': ('event_longitude', 'evlo', 'source_longitude_deg', 'longitude'),
    'station_latitude': ('station_latitude', 'stla', 'station_latitude_deg'),
    'station_longitude': ('station_longitude', 'stlo', 'station_longitude_deg'),
    'event_depth_km': ('event_depth_km', 'depth_km', 'source_depth_km'),
    'distance_km': ('distance_km', 'dist_km', 'epicentral_distance_km', 'path_ep_distance_km'),
    'network': ('network', 'net', 'station_network_code'),
    'station': ('station', 'sta', 'station_code'),
    'location': ('location', 'loc', 'station_location_code'),
    'channel': ('channel', 'cha'),
    'magnitude': ('magnitude', 'mag', 'source_magnitude'),
}


@dataclasses.dataclass(frozen=True)
class InputRecord:
  """One station's recording of one event: the unit that is accepted or rejected.

  Attributes:
    files: paths of the record's files (one per component, or one holding all).
    rows: the table rows (field -> value, '' when absent), one per file.
    source: name of the input it came from (``experiments.prepare`` takes several),
      written to the manifest and rejection report.
  """
  files: tuple[pathlib.Path, ...]
  rows: tuple[Mapping[str, str], ...]
  source: str = ''

  def field(self, name: str) -> str:
    """The first non-empty value of ``name`` among the rows, or ''."""
    return next((row.get(name, '') for row in self.rows if row.get(name, '')), '')

  @property
  def file_names(self) -> str:
    return ';'.join(str(f) for f in self.files)


def resolve_columns(header: Sequence[str], overrides: Mapping[str, str] | None = None, *,
                    labelled: bool = True) -> dict[str, str]:
  """Field -> column name for this table's header.

  Args:
    header: the table's column names.
    overrides: field -> column given by the user (flags); must exist in ``header``.
    labelled: whether the table must say each record's type (False: an unlabeled pool).

  Returns:
    The fields found (absent optional fields are left out).

  Raises:
    ValueError: naming an override column that the table lacks, or a table
      without a file column or without both event type and label.
  """
  overrides = dict(overrides or {})
  unknown = [f for f in overrides if f not in COLUMN_CANDIDATES]
  if unknown:
    raise ValueError(f'unknown fields {unknown}; mappable fields: {sorted(COLUMN_CANDIDATES)}')
  resolved = {}
  for field, candidates in COLUMN_CANDIDATES.items():
    if field in overrides:
      if overrides[field] not in header:
        raise ValueError(f'column {overrides[field]!r} (for {field}) not in the records table; '
                         f'columns: {list(header)}')
      resolved[field] = overrides[field]
      continue
    found = next((c for c in candidates if c in header), None)
    if found:
      resolved[field] = found
  if 'file' not in resolved:
    raise ValueError(f'records table has no file column (tried {COLUMN_CANDIDATES["file"]}); '
                     f'name it with --column_map=file=<column>')
  if labelled and 'event_type' not in resolved and 'label' not in resolved:
    raise ValueError('records table has neither an event type nor a label column; name one with '
                     '--column_map=event_type=<column> or --column_map=label=<column> (or, for records of '
                     'unknown type, --unlabeled)')
  return resolved


def read_records_table(path: str | pathlib.Path, base_dir: str | pathlib.Path | None = None,
                       overrides: Mapping[str, str] | None = None, *, source: str = '',
                       labelled: bool = True) -> list[InputRecord]:
  """Input records from a CSV table, file paths resolved against ``base_dir``, tagged ``source``.

  Rows sharing event, network, station, location and band/instrument code (the
  channel code without its component letter) form one record (``group_rows``).

  Raises:
    ValueError: from ``resolve_columns`` or ``group_rows`` (an ambiguous event,
      or one event given two types or labels), naming the table.
  """
  path = pathlib.Path(path)
  base_dir = pathlib.Path(base_dir) if base_dir else path.parent
  if not path.is_file():
    raise ValueError(f'{path}: the records table is {"a folder" if path.is_dir() else "missing"}, not a CSV file')
  try:
    # utf-8-sig: a table saved by a spreadsheet may start with a byte-order mark,
    # which would otherwise become part of the first column's name.
    with open(path, newline='', encoding='utf-8-sig') as f:
      reader = csv.DictReader(f)
      columns = resolve_columns(reader.fieldnames or [], overrides, labelled=labelled)
      rows = [{field: (row.get(column) or '').strip() for field, column in columns.items()} for row in reader]
    return group_rows(rows, base_dir, source=source)
  except (ValueError, csv.Error) as error:  # UnicodeDecodeError is a ValueError
    raise ValueError(f'{path}: {error}') from None


def group_rows(rows: Sequence[Mapping[str, str]], base_dir: pathlib.Path, *, source: str = '') -> list[InputRecord]:
  """Rows grouped into station records of one event each, in first-appearance order.

  Blank station codes and origins are first taken from the files' headers and
  each row is given its event (``grouping``). A row joins the first record of its
  key that lacks its channel code, so two files of the same channel (e.g. two
  recordings listed twice) stay two records; a row whose event or station is not
  known is a record of its own.

  Raises:
    ValueError: an ambiguous event (``grouping.assign_events``) or one event given two
      types or labels (``grouping.check_one_type_per_event``), naming the rows.
  """
  rows, starts = grouping.complete_from_headers(rows, base_dir)
  events = grouping.assign_events(rows, starts)
  grouping.check_one_type_per_event(rows, events)
  groups: dict[tuple, list[list]] = {}
  order: list[list] = []
  for index, row in enumerate(rows):
    if row.get('station') and row.get('channel') and events[index] is not None:
      key = (events[index], row.get('network', ''), row['station'], row.get('location', ''), row['channel'][:-1])
    else:
      key = (index,)
    candidates = groups.setdefault(key, [])
    group = next((g for g in candidates if all(r.get('channel') != row.get('channel') for r in g)), None)
    if group is None:
      group = []
      candidates.append(group)
      order.append(group)
    group.append(row)
  return [InputRecord(files=tuple(base_dir / row['file'] for row in group), rows=tuple(group), source=source)
          for group in order]


def scan_folder(root: pathlib.Path, exclude: Sequence[pathlib.Path] = ()
                ) -> tuple[list[pathlib.Path], list[tuple[pathlib.Path, str]]]:
  """The files under ``root`` that are waveforms, and the others with the reason each is skipped.

  A file with a name that usually means a table or text (``NON_WAVEFORM_SUFFIXES``)
  is a waveform only if ObsPy reads it; any other file is taken as a waveform (an
  unreadable one becomes a rejected record with its reason). So every file is
  either input or listed as skipped, never lost without a word.
  """
  excluded = {p.resolve() for p in exclude}
  files, skipped = [], []
  for path in sorted(p for p in root.rglob('*') if not p.is_dir()):
    problem = file_checks.regular_file_problem(path)
    if problem:  # a FIFO or device would block or never end a read
      skipped.append((path, problem))
    elif path.resolve() in excluded:
      skipped.append((path, 'named by a flag (records table, catalog or inventory)'))
    elif path.suffix.lower() in NON_WAVEFORM_SUFFIXES and not _obspy_reads(path):
      skipped.append((path, f'not a waveform file ObsPy reads ({path.suffix} file)'))
    else:
      files.append(path)
  return files, skipped


def _obspy_reads(path: pathlib.Path) -> bool:
  try:
    obspy.read(str(path), headonly=True)
  except Exception:  # ObsPy raises many types for a file of no format it knows
    return False
  return True


def records_from_files(paths: Sequence[pathlib.Path], *, source: str = '') -> list[InputRecord]:
  """Input records of files given without a table: one per station and event (SAC headers/catalog supply the rest).

  The files of one station's recording of one event (e.g. its BHZ, BHN and BHE
  SAC files) form one record, as rows of a table would (``group_rows``).
  """
  return group_rows([{'file': str(p)} for p in paths], pathlib.Path(), source=source)
