"""How a binary ends on a fault that is not a bad flag: refused input, an interrupt, a full disk, an unreadable file.

One line on stderr naming what happened (the file, record, flag or field the
refusal names; the file, for a system error), no traceback and no usage text (absl
prints that for ``app.UsageError``, the shape of the command line, only); the exit
status is 130 for an interrupt (as a shell reports SIGINT) and 1 otherwise. What the run was writing is cleaned up on the way out by the writers
themselves (``ganet_jax.data.outputs``' staging, orbax's temporary checkpoints).
"""

from __future__ import annotations

import contextlib
import errno
import signal
import sys
import threading
from typing import Iterator

from ganet_jax.errors import RecordRejected

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


def refusal_line(error: Exception) -> str:
  """A refusal's message on one line: the library's refusals name the file, record, flag or field themselves."""
  return ' '.join(line.strip() for line in str(error).splitlines() if line.strip()) or type(error).__name__


@contextlib.contextmanager
def one_line(what: str) -> Iterator[None]:
  """Ends the block's refusal, interrupt or OSError with one line on stderr (SystemExit, nonzero status).

  A refusal of the input or settings (ValueError, which ``ConfigError`` is, or
  ``RecordRejected``) ends with its own message; a non-finite loss, an interrupt or a
  system error with ``<what> stopped: ...``.

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
    if error.errno is None:  # raised by the library with its own message (e.g. an --input that does not exist)
      raise SystemExit(refusal_line(error)) from None
    raise SystemExit(f'{what} stopped: {system_error_line(error)}') from None
  except (ValueError, RecordRejected) as error:
    raise SystemExit(refusal_line(error)) from None
  except FloatingPointError as error:  # a non-finite loss, naming the epoch and step
    raise SystemExit(f'{what} stopped: {refusal_line(error)}') from None
  finally:
    if main:
      signal.signal(signal.SIGINT, previous)
