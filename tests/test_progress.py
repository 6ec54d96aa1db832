"""The progress helper: rate and ETA lines through absl logging, only when asked or on a terminal."""

import logging
import re

import pytest

from ganet_jax import progress as progress_lib
from ganet_jax.progress import Progress, format_duration


@pytest.fixture
def logged(caplog):
  caplog.set_level(logging.INFO, logger='absl')
  return lambda: [r.getMessage() for r in caplog.records if r.name == 'absl']


def test_every_gives_a_line_per_multiple_with_rate_and_eta(logged):
  progress = Progress(20, 'records', enabled=True, label='prepare', every=5)
  for done in range(1, 21):
    progress.update(1, note=f'{done} accepted')
  lines = logged()
  assert [line.split(',')[0] for line in lines] == [f'prepare: {n}/20 records ({5 * n}%)' for n in (5, 10, 15, 20)]
  assert re.fullmatch(r'prepare: 5/20 records \(25%\), [\d.]+ records/s, ETA \d+:\d\d:\d\d, 5 accepted', lines[0])
  assert lines[-1].endswith('ETA 0:00:00, 20 accepted')


def test_interval_zero_reports_every_update_and_unknown_totals_have_no_eta(logged):
  progress = Progress(None, 'steps', enabled=True, interval_s=0)
  progress.update(3)
  progress.update(4)
  assert [line.split(',')[0] for line in logged()] == ['3 steps', '7 steps']
  assert 'ETA' not in logged()[0]


def test_a_long_interval_reports_only_the_end(logged):
  progress = Progress(10, enabled=True, interval_s=3600)
  for _ in range(10):
    progress.update(1)
  assert len(logged()) == 1 and logged()[0].startswith('10/10 records (100%)')


def test_disabled_progress_is_silent_and_never_due(logged):
  progress = Progress(4, enabled=False, interval_s=0)
  assert not progress.due()
  for _ in range(4):
    progress.update(1)
  assert logged() == [] and progress.count == 4


def test_default_follows_whether_stderr_is_a_terminal(monkeypatch):
  monkeypatch.setattr(progress_lib, 'stderr_is_terminal', lambda: False)
  assert not Progress(3).enabled
  monkeypatch.setattr(progress_lib, 'stderr_is_terminal', lambda: True)
  assert Progress(3).enabled and not Progress(3, enabled=False).enabled


def test_durations_read_as_hours_minutes_seconds():
  assert format_duration(3725.4) == '1:02:05'
  assert format_duration(0.4) == '0:00:00'
