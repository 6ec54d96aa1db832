"""Progress of a long loop (records or steps per second, ETA), logged through absl logging.

Like clu's ``periodic_actions.ReportProgress`` in the flax examples: a line every
few seconds at INFO, e.g.

  prepare: 300/1200 records (25%), 41.3 records/s, ETA 0:00:21

By default it reports only when stderr is a terminal, so logs of batch jobs and
captured output stay free of it; ``enabled=True`` (a binary's ``--progress``)
forces it on and ``enabled=False`` (``--noprogress``) off.
"""

from __future__ import annotations

import datetime
import sys
import time

from absl import logging


def stderr_is_terminal() -> bool:
  """True when stderr is an interactive terminal (the default for showing progress)."""
  try:
    return sys.stderr.isatty()
  except (AttributeError, ValueError):  # replaced or closed stream
    return False


class Progress:
  """Counts the items of a loop and logs its rate and ETA now and then.

  Example::

    progress = Progress(len(records), 'records', label='prepare')
    for record in records:
      ...
      progress.update(1)
  """

  def __init__(self, total: int | None, what: str = 'records', *, enabled: bool | None = None, label: str = '',
               interval_s: float = 10.0, every: int | None = None):
    """Start the clock.

    Args:
      total: items expected (None: unknown, no percentage or ETA).
      what: the items' name, e.g. 'records' or 'steps'.
      enabled: True or False to force reporting on or off; None: on when stderr is a terminal.
      label: the line's prefix, e.g. 'epoch 3/30'.
      interval_s: seconds between lines (when ``every`` is None).
      every: a line each time the count passes a multiple of ``every`` instead.
    """
    self.total, self.what, self.label = total, what, label
    self.enabled = stderr_is_terminal() if enabled is None else bool(enabled)
    self.interval_s, self.every = interval_s, every
    self.count = 0
    self.lines = 0
    self._start = self._last = time.perf_counter()

  def due(self, n: int = 1) -> bool:
    """Whether ``update(n)`` will log a line (e.g. to wait for asynchronous work first, so the rate is true)."""
    if not self.enabled:
      return False
    count = self.count + n
    if self.total is not None and count >= self.total:
      return True
    if self.every:
      return count // self.every > self.count // self.every
    return time.perf_counter() - self._last >= self.interval_s

  def update(self, n: int = 1, note: str = '') -> None:
    """Count ``n`` more items; log a line when one is due.

    Args:
      n: items done since the last call.
      note: appended to the line, e.g. '12 accepted, 3 rejected'.
    """
    due = self.due(n)
    self.count += n
    if due:
      self._last = time.perf_counter()
      self.lines += 1
      logging.info('%s', self.line(note))

  def line(self, note: str = '') -> str:
    """The progress line as it stands."""
    elapsed = max(time.perf_counter() - self._start, 1e-9)
    rate = self.count / elapsed
    if self.total:
      done = f'{self.count}/{self.total} {self.what} ({100 * self.count / self.total:.0f}%)'
      left = max(self.total - self.count, 0) / rate if rate > 0 else None
      eta = f', ETA {format_duration(left)}' if left is not None else ''
    else:
      done, eta = f'{self.count} {self.what}', ''
    text = f'{done}, {rate:.1f} {self.what}/s{eta}'
    if note:
      text += f', {note}'
    return f'{self.label}: {text}' if self.label else text


def format_duration(seconds: float) -> str:
  """h:mm:ss of a number of seconds (rounded)."""
  return str(datetime.timedelta(seconds=round(seconds)))
