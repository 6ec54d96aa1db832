"""Output folders and files that never mix two runs.

A prepared set (or a classifier's CSVs) is written under a temporary name beside
its target and moved into place only when complete, so a crash leaves the old
output or nothing, never a mix of old and new files. An existing output is
replaced only when the caller says so (``--overwrite``), and a folder that holds
anything else is never written into.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
from typing import Collection, Iterator


def _writable_parent(path: pathlib.Path, flag: str) -> None:
  """Rejects a path whose nearest existing ancestor is a file or not writable."""
  parent = path.absolute().parent
  while not parent.exists():
    parent = parent.parent
  if not parent.is_dir():
    raise ValueError(f'{flag}={path}: {parent} is a file, not a folder')
  if not os.access(parent, os.W_OK | os.X_OK):
    raise ValueError(f'{flag}={path}: {parent} is not writable')


def check_output_folder(path: str | pathlib.Path, own_files: Collection[str], *, overwrite: bool,
                        flag: str = '--output') -> None:
  """Checks, before any work, that ``path`` can receive a new output folder.

  Args:
    path: the output folder.
    own_files: names of the files such an output holds; a folder holding only
      these (and at least one) is a previous output, replaced only with ``overwrite``.
    overwrite: whether a previous output may be replaced.
    flag: the flag named in messages.

  Raises:
    ValueError: one line naming the flag and the path: a file, under a file, not
      writable, a folder holding other files, or a previous output without ``overwrite``.
  """
  path = pathlib.Path(path)
  if path.exists() and not path.is_dir():
    raise ValueError(f'{flag}={path}: is a file, not a folder')
  _writable_parent(path, flag)
  if not path.is_dir():
    return
  names = sorted(p.name for p in path.iterdir())
  if not names:
    if not os.access(path, os.W_OK | os.X_OK):
      raise ValueError(f'{flag}={path}: is not writable')
    return
  foreign = [n for n in names if n not in own_files]
  if foreign:
    raise ValueError(f'{flag}={path}: a folder with other files ({", ".join(foreign[:3])}'
                     f'{", ..." if len(foreign) > 3 else ""}); give a new or empty folder')
  if not overwrite:
    raise ValueError(f'{flag}={path}: holds an earlier output; pass --overwrite to replace it')


@contextlib.contextmanager
def staged_folder(path: str | pathlib.Path) -> Iterator[pathlib.Path]:
  """A temporary folder beside ``path`` that replaces ``path`` when the block completes.

  On an exception the temporary folder is removed and ``path`` is left as it was.
  """
  path = pathlib.Path(path)
  stage = path.parent / f'.{path.name}.partial-{os.getpid()}'
  shutil.rmtree(stage, ignore_errors=True)
  stage.mkdir(parents=True)
  try:
    yield stage
  except BaseException:
    shutil.rmtree(stage, ignore_errors=True)
    raise
  old = path.parent / f'.{path.name}.replaced-{os.getpid()}'
  if path.exists():
    path.rename(old)
  stage.rename(path)
  shutil.rmtree(old, ignore_errors=True)


def check_output_file(path: str | pathlib.Path, *, overwrite: bool, flag: str = '--output') -> None:
  """Checks, before any work, that ``path`` can receive a new output file.

  Raises:
    ValueError: one line naming the flag: a folder, under a file, not writable,
      or an existing file without ``overwrite``.
  """
  path = pathlib.Path(path)
  if path.is_dir():
    raise ValueError(f'{flag}={path}: is a folder; give a file name')
  _writable_parent(path, flag)
  if path.exists() and not overwrite:
    raise ValueError(f'{flag}={path}: exists; pass --overwrite to replace it')


def write_files_together(contents: dict[pathlib.Path, str]) -> None:
  """Writes every file under a temporary name, then renames them all into place."""
  staged = {}
  try:
    for path, text in contents.items():
      path.parent.mkdir(parents=True, exist_ok=True)
      temporary = path.parent / f'.{path.name}.partial-{os.getpid()}'
      temporary.write_text(text, newline='')
      staged[temporary] = path
  except BaseException:
    for temporary in staged:
      temporary.unlink(missing_ok=True)
    raise
  for temporary, path in staged.items():
    os.replace(temporary, path)
