"""Which paths may be read: regular files only, and no larger than what they can sanely hold.

A FIFO blocks a reader forever and a device such as ``/dev/zero`` never ends; both
can be named in a table's ``file`` column or a model card, so every such path is
checked before it is opened.
"""

from __future__ import annotations

import os
import pathlib
import stat


def regular_file_problem(path: pathlib.Path, max_bytes: int | None = None) -> str:
  """Why ``path`` must not be read ('' when it may): missing, not a regular file, or over ``max_bytes``."""
  try:
    status = os.stat(path)
  except FileNotFoundError:
    return 'file not found'
  except OSError as error:
    return f'cannot be read ({error.strerror or error})'
  if stat.S_ISDIR(status.st_mode):
    return 'a folder, not a file'
  if not stat.S_ISREG(status.st_mode):
    return f'not a regular file (a {file_kind(status.st_mode)}): only regular files are read'
  if max_bytes is not None and status.st_size > max_bytes:
    return f'{status.st_size} bytes, more than the {max_bytes} such a file can hold'
  return ''


def file_kind(mode: int) -> str:
  """A file mode's kind in words: FIFO, character device, block device, socket or special file."""
  for test, name in ((stat.S_ISFIFO, 'FIFO'), (stat.S_ISCHR, 'character device'), (stat.S_ISBLK, 'block device'),
                     (stat.S_ISSOCK, 'socket')):
    if test(mode):
      return name
  return 'special file'


def read_regular_bytes(path: pathlib.Path, max_bytes: int) -> bytes:
  """The bytes of a regular file of at most ``max_bytes``.

  Raises:
    ValueError: naming the path, when it is not such a file (``regular_file_problem``).
  """
  problem = regular_file_problem(path, max_bytes)
  if problem:
    raise ValueError(f'{path}: {problem}')
  with open(path, 'rb') as f:
    return f.read(max_bytes + 1)[:max_bytes]
