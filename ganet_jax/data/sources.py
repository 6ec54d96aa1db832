"""The inputs of a run: folders of waveform files, each with an optional records table.

One rule for every binary that reads records (``experiments.prepare``,
``experiments.classify``): a relative table path lies under its input folder, and
the table's file paths are resolved against that folder too (absolute paths stay as
they are). The working directory never takes part, so a ``./<name>`` there cannot
shadow ``<input>/<name>``. Several inputs pair with their tables by position.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Mapping, Sequence

from ganet_jax.data import records_table
from ganet_jax.data.records_table import InputRecord


@dataclasses.dataclass(frozen=True)
class Source:
  """One input: a folder, its optional records table, its name (the manifest's ``source`` column)."""
  name: str
  root: pathlib.Path
  table: pathlib.Path | None = None


def resolve_sources(inputs: Sequence[str], tables: Sequence[str] = (), names: Sequence[str] = ()) -> list[Source]:
  """The --input/--records/--source triples, paired by position.

  Args:
    inputs: the input folders.
    tables: none, or one records table per input: absolute, or relative to its input.
    names: none, or one name per input (default: the folder's name).

  Returns:
    One ``Source`` per input.

  Raises:
    ValueError: naming the flag whose count does not match --input, an input that is
      not a folder, a table that is not a file, or two sources of one name.
  """
  for flag, values in (('--records', tables), ('--source', names)):
    if values and len(values) != len(inputs):
      raise ValueError(f'{flag} is given {len(values)} times for {len(inputs)} --input; give one per --input '
                       f'(paired by position) or none')
  sources = []
  for i, folder in enumerate(inputs):
    root = pathlib.Path(folder)
    table = table_path(root, tables[i]) if tables else None
    if not root.is_dir():
      raise ValueError(f'--input={folder}: {"not a folder" if root.exists() else "does not exist"}')
    if table is not None and not table.is_file():
      raise ValueError(f'--records={tables[i]}: {table} is {"a folder" if table.is_dir() else "not a file"} '
                       f'(a relative --records is read from its --input folder)')
    sources.append(Source(names[i] if names else root.resolve().name, root, table))
  taken = [s.name for s in sources]
  if len(set(taken)) != len(taken):
    raise ValueError(f'two inputs share the source name {sorted(n for n in taken if taken.count(n) > 1)[0]!r}; '
                     f'name each with --source')
  return sources


def table_path(root: pathlib.Path, table: str | pathlib.Path) -> pathlib.Path:
  """A records table's path: ``table`` if absolute, else under the input folder ``root``."""
  table = pathlib.Path(table)
  return table if table.is_absolute() else root / table


def source_records(source: Source, column_map: Mapping[str, str] | None = None, *, labelled: bool = True,
                   exclude: Sequence[pathlib.Path] = ()) -> tuple[list[InputRecord], list[dict[str, str]]]:
  """The source's input records, each tagged with its name, and the files of its folder not taken.

  Args:
    source: the input.
    column_map: field -> column overrides for its table.
    labelled: whether the table must give event types or labels.
    exclude: files under the folder that are not waveforms (tables, catalogs named by flags).

  Returns:
    (records, skipped {source, file, reason}); with a table its rows' files are
    resolved against ``source.root``; without one every file under the folder is
    either a record or skipped with its reason (``records_table.scan_folder``).
  """
  if source.table is not None:
    return records_table.read_records_table(source.table, source.root, column_map, source=source.name,
                                            labelled=labelled), []
  files, skipped = records_table.scan_folder(source.root, exclude)
  return (records_table.records_from_files(files, source=source.name),
          [{'source': source.name, 'file': str(path), 'reason': reason} for path, reason in skipped])
