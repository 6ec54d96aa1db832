"""The benchmarks' quiet-machine verdict: other processes' CPU share decides, not the benchmark's own load."""

import os
import subprocess
import sys
import time

import numpy as np
import pytest

from benchmarks.load import MAX_OTHER_CPU_SHARE, MachineLoad, allocator_settings, faults_and_system_seconds


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


def test_another_process_burning_a_core_shows_in_the_share():
  burner = subprocess.Popen([sys.executable, '-c', 'import time\nend = time.monotonic() + 3\n'
                             'while time.monotonic() < end: pass'])
  try:
    time.sleep(0.3)  # past the interpreter's start
    with MachineLoad() as load:
      time.sleep(1.0)  # this process idles: the busy time is the burner's (and other processes')
  finally:
    burner.kill()
    burner.wait()
  share = load.report()['other_processes_cpu_share']
  if share is None:
    pytest.skip('no /proc/stat: the other processes\' share is measured on Linux only')
  # one core of os.cpu_count() busy for the whole block, less a margin for the clock's 10-ms ticks;
  # processes that preempt the burner add their own time, so a loaded machine reads higher, not lower
  assert share >= 0.5 / os.cpu_count()
  if 0.5 / os.cpu_count() >= MAX_OTHER_CPU_SHARE:  # then the busy core alone makes the run incomparable
    assert not load.report()['comparable']


def test_allocator_settings_name_what_changes_the_c_allocator():
  environ = {'PATH': '/bin', 'GLIBC_TUNABLES': 'glibc.malloc.arena_max=1', 'MALLOC_MMAP_THRESHOLD_': '65536',
             'LD_PRELOAD': 'libjemalloc.so', 'OMP_NUM_THREADS': '2'}
  assert allocator_settings(environ) == {'GLIBC_TUNABLES': 'glibc.malloc.arena_max=1', 'LD_PRELOAD': 'libjemalloc.so',
                                         'MALLOC_MMAP_THRESHOLD_': '65536'}
  assert allocator_settings({'PATH': '/bin'}) == {}


def test_touching_fresh_memory_counts_page_faults():
  size = 64 * 2**20
  faults_before, _ = faults_and_system_seconds()
  np.ones(size, np.uint8)  # above glibc's mmap threshold: freshly mapped pages, each written once
  faults_after, _ = faults_and_system_seconds()
  assert faults_after - faults_before >= size // 2**21  # at least one fault per huge page, more with 4-KiB pages
