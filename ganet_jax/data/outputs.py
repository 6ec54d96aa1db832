"""Output folders and files that never mix two runs.

A prepared set (or a classifier's CSVs) is written under a temporary name beside
its target and moved into place only when complete, so a crash leaves the old
output or nothing, never a mix of old and new files. An existing output is
replaced only when the caller says so (``--overwrite``), and a folder that holds
anything else is never written into. While a run writes an output it holds its lock
(``output_lock``): a second run on the same output is refused, not interleaved.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import pathlib
import shutil
from typing import Collection, Iterator


class OutputBusy(ValueError):
  """The output is being written by another process (its lock is held)."""


def lock_path(path: str | pathlib.Path, part: str = '') -> pathlib.Path:
  """The lock file of an output: a hidden ``.<name>[.<part>].lock`` beside it (the output itself may be replaced)."""
  path = pathlib.Path(path).absolute()
  return path.parent / f'.{path.name}{"." + part if part else ""}.lock'


@contextlib.contextmanager
def output_lock(path: str | pathlib.Path, *, flag: str | None = None, part: str = '') -> Iterator[None]:
  """Hold the lock of the output ``path`` (a file or folder) for the block.

  The lock is an exclusive ``flock`` on ``lock_path(path)``, which holds the PID of
  its holder. The kernel drops the lock of a process that dies, so the lock file
  of a killed run is simply taken over; the file is removed when the block ends.

  Args:
    path: the output; its parent folder is created when missing.
    flag: the flag naming the output in messages (e.g. '--output'), or None.
    part: a share of the output written by one of several cooperating processes
      (each locks its own part), '' for the whole.

  Raises:
    OutputBusy: (a ValueError) one line naming the output and the process writing it.
    ValueError: the lock cannot be made (the parent is a file or not writable).
  """
  name = f'{flag}={path}' if flag else str(path)
  lock = lock_path(path, part)
  _writable_parent(pathlib.Path(path), name)
  lock.parent.mkdir(parents=True, exist_ok=True)
  while True:
    try:
      fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
      raise ValueError(f'{name}: cannot create its lock {lock} ({error.strerror})') from None
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
      holder = os.read(fd, 32).decode(errors='replace').strip() or 'unknown'
      os.close(fd)
      if error.errno not in (errno.EAGAIN, errno.EACCES):
        raise ValueError(f'{name}: cannot lock {lock} ({error.strerror})') from None
      raise OutputBusy(f'{name} is being written by process {holder}; wait for it to end, or write elsewhere') from None
    # The holder we waited on may have removed the file after we opened it: lock the one in place.
    try:
      same = os.stat(lock).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
      same = False
    if same:
      break
    os.close(fd)
  try:
    os.ftruncate(fd, 0)
    os.write(fd, f'{os.getpid()}\n'.encode())
    yield
  finally:
    lock.unlink(missing_ok=True)  # while still held, so no other process holds a lock on it
    os.close(fd)


def _pid_alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # another user's live process
    return True
  return True


def remove_stale_staging(path: str | pathlib.Path) -> list[pathlib.Path]:
  """Removes the staging folders and files of ``path`` left by runs that died (``.<name>.partial-<pid>``).

  Also the ``.<name>.replaced-<pid>`` copy of an output a killed run was replacing.
  A staging entry of a live process is left alone.

  Returns:
    The entries removed.
  """
  path = pathlib.Path(path).absolute()
  removed = []
  if not path.parent.is_dir():
    return removed
  for kind in ('partial', 'replaced'):
    for entry in path.parent.glob(f'.{path.name}.{kind}-*'):
      pid = entry.name.rsplit('-', 1)[-1]
      if not pid.isdigit() or int(pid) == os.getpid() or _pid_alive(int(pid)):
        continue
      if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry, ignore_errors=True)
      else:
        entry.unlink(missing_ok=True)
      removed.append(entry)
  return removed


def _writable_parent(path: pathlib.Path, name: str) -> None:
  """Rejects a path whose nearest existing ancestor is a file or not writable (``name``: the path as messages give it)."""
  parent = path.absolute().parent
  while not parent.exists():
    parent = parent.parent
  if not parent.is_dir():
    raise ValueError(f'{name}: {parent} is a file, not a folder')
  if not os.access(parent, os.W_OK | os.X_OK):
    raise ValueError(f'{name}: {parent} is not writable')


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
  _writable_parent(path, f'{flag}={path}')
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

  On an exception (an interrupt included) the temporary folder is removed and
  ``path`` is left as it was; the temporary folders of runs that were killed are
  removed first (``remove_stale_staging``).
  """
  path = pathlib.Path(path)
  remove_stale_staging(path)
  stage = path.parent / f'.{path.name}.partial-{os.getpid()}'
  shutil.rmtree(stage, ignore_errors=True)
  stage.mkdir(parents=True)
  try:
    yield stage
  except BaseException:
    shutil.rmtree(stage, ignore_errors=True)
    raise
  _move_into_place(stage, path)


def _move_into_place(stage: pathlib.Path, path: pathlib.Path) -> None:
  """``stage`` renamed to ``path``; an output already there is renamed aside first (``.<name>.replaced-<pid>``,
  which ``remove_stale_staging`` removes after a killed run), then removed."""
  old = path.parent / f'.{path.name}.replaced-{os.getpid()}'
  if path.exists():
    path.rename(old)
  stage.rename(path)
  shutil.rmtree(old, ignore_errors=True)


def unfinished_path(path: str | pathlib.Path) -> pathlib.Path:
  """Where an output written over several runs is built until complete: ``.<name>.unfinished`` beside it."""
  path = pathlib.Path(path).absolute()
  return path.parent / f'.{path.name}.unfinished'


@contextlib.contextmanager
def resumable_folder(path: str | pathlib.Path) -> Iterator[pathlib.Path]:
  """A folder beside ``path`` (``unfinished_path``) that replaces ``path`` when the block completes.

  Unlike ``staged_folder``'s, the folder outlives a run that fails or is killed, so
  the next run with the same output continues what it holds; the caller holds the
  output's lock (``output_lock``), so one run at a time uses it.
  """
  path = pathlib.Path(path)
  remove_stale_staging(path)
  stage = unfinished_path(path)
  stage.mkdir(parents=True, exist_ok=True)
  yield stage
  _move_into_place(stage, path)


def check_output_file(path: str | pathlib.Path, *, overwrite: bool, flag: str = '--output') -> None:
  """Checks, before any work, that ``path`` can receive a new output file.

  Raises:
    ValueError: one line naming the flag: a folder, under a file, not writable,
      or an existing file without ``overwrite``.
  """
  path = pathlib.Path(path)
  if path.is_dir():
    raise ValueError(f'{flag}={path}: is a folder; give a file name')
  _writable_parent(path, f'{flag}={path}')
  if path.exists() and not overwrite:
    raise ValueError(f'{flag}={path}: exists; pass --overwrite to replace it')


def write_files_together(contents: dict[pathlib.Path, str]) -> None:
  """Writes every file under a temporary name, then renames them all into place.

  On an exception (a full disk, an interrupt) the temporary files, the one being
  written included, are removed and the files in place are left as they were;
  those of killed runs are removed first.

  Raises:
    OSError: a failed write, naming the output file it was for (not its temporary name).
  """
  staged = {}
  try:
    for path, text in contents.items():
      path.parent.mkdir(parents=True, exist_ok=True)
      remove_stale_staging(path)
      temporary = path.parent / f'.{path.name}.partial-{os.getpid()}'
      staged[temporary] = path  # before the write: a write that fails half-way leaves it too
      try:
        temporary.write_text(text, newline='')
      except OSError as error:
        raise OSError(error.errno, error.strerror or str(error), str(path)) from None
  except BaseException:
    for temporary in staged:
      temporary.unlink(missing_ok=True)
    raise
  for temporary, path in staged.items():
    os.replace(temporary, path)
