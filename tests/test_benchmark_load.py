"""The benchmarks' quiet-machine verdict: other processes' CPU share decides, not the benchmark's own load."""

import os

import numpy as np

from benchmarks.load import MachineLoad, allocator_settings, faults_and_system_seconds


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
