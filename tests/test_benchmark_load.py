"""The benchmarks' quiet-machine verdict: other processes' CPU share decides, not the benchmark's own load."""

import os

from benchmarks.load import MachineLoad


def _load(before: float, other_share):
  load = MachineLoad()
  load.before = load.after = (before, before, before)
  load.max_during, load.other_cpu_share = before, other_share
  return load.report()


def test_own_load_average_does_not_make_a_quiet_run_incomparable():
  # the benchmark's own compiles left the load average high; nothing else ran
  assert _load(before=3.0 * os.cpu_count(), other_share=0.02)['comparable']


def test_other_processes_taking_cpu_make_a_run_incomparable():
  report = _load(before=0.0, other_share=0.3)
  assert not report['comparable'] and 'other processes' in report['comparable_rule']


def test_without_a_cpu_share_the_load_average_before_decides():
  assert _load(before=0.0, other_share=None)['comparable']
  assert not _load(before=2.0 * os.cpu_count(), other_share=None)['comparable']


def test_a_measured_block_reports_a_share():
  with MachineLoad() as load:
    sum(range(10 ** 4))  # even a block shorter than a clock tick gives a share in [0, 1]
  report = load.report()
  assert report['other_processes_cpu_share'] is None or 0 <= report['other_processes_cpu_share'] <= 1
