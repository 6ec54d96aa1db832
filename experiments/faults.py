"""How a binary ends on a fault that is not a bad flag: an interrupt, a full disk, an unreadable file.

One line on stderr naming what happened (and the file, for a system error), no
traceback; the exit status is 130 for an interrupt (as a shell reports SIGINT) and
1 otherwise. What the run was writing is cleaned up on the way out by the writers
themselves (``ganet_jax.data.outputs``' staging, orbax's temporary checkpoints).
"""

from __future__ import annotations

import contextlib
import errno
import signal
import sys
import threading
from typing import Iterator

INTERRUPTED_STATUS = 130
_interrupted = threading.Event()


def _on_interrupt(signum, frame) -> None:
  _interrupted.set()
  raise KeyboardInterrupt


def raise_if_interrupted() -> None:
  """Raises KeyboardInterrupt if the block was interrupted: for loops whose libraries may swallow it.

  A library's bare ``except:`` around a file read (ObsPy tries format after format)
  can catch the KeyboardInterrupt a SIGINT raises and go on; a loop that calls this
  between records stops anyway.
  """
  if _interrupted.is_set():
    raise KeyboardInterrupt


def system_error_line(error: OSError) -> str:
  """``<file>: <reason>`` of an OSError, with advice for a full disk."""
  where = f'{error.filename}: ' if error.filename else ''
  line = f'{where}{error.strerror or error}'
  if error.errno in (errno.ENOSPC, errno.EDQUOT):
    line += '; free space (or give an output on another disk) and run again: a rerun resumes or rewrites it'
  return line


@contextlib.contextmanager
def one_line(what: str) -> Iterator[None]:
  """Ends the block's interrupt or OSError with one line ``<what> stopped: ...`` (SystemExit).

  Args:
    what: the binary's task, e.g. 'training' or 'preparing'.
  """
  main = threading.current_thread() is threading.main_thread()
  previous = signal.signal(signal.SIGINT, _on_interrupt) if main else None
  try:
    yield
  except KeyboardInterrupt:
    print(f'{what} stopped: interrupted; nothing half-written is left behind, a rerun starts over or resumes',
          file=sys.stderr, flush=True)
    raise SystemExit(INTERRUPTED_STATUS) from None
  except OSError as error:
    raise SystemExit(f'{what} stopped: {system_error_line(error)}') from None
  finally:
    if main:
      signal.signal(signal.SIGINT, previous)
