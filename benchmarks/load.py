"""Was the machine quiet? Load from other processes while a benchmark ran, peak memory, page faults.

A timing taken while other processes compete for the cores is not a
quiet-machine figure: on the 2-core reference machine, eager PyTorch's threads
lost far more to other jobs than XLA's, which moved a JAX/PyTorch ratio from
1.3x (quiet) to 4.9x (load average 4-6). ``MachineLoad`` records the load
average before and after and, on Linux, the share of the machine's CPU time
that other processes used during the run (total busy time from ``/proc/stat``
minus this process's own), and says whether the run is comparable.

The C allocator's settings matter too: glibc maps every
allocation above its threshold afresh and returns it when freed, so a step that
allocates a large working set page-faults all of it, every step (benchmarks/README.md,
"Training and inference against PyTorch"). ``allocator_settings`` names the environment that changes that, and
``faults_and_system_seconds`` counts what it cost.
"""

from __future__ import annotations

import os
import resource
import time

from ganet_jax.training.host_memory import status_bytes

# A run is comparable when other processes used less than this share of all cores
# during it. The load average counts the benchmark's own threads (its compiles and
# warm-up raise it before the timed part starts), so it decides only where the
# other processes' share cannot be measured (off Linux): below this many runnable
# processes per core before the run.
MAX_OTHER_CPU_SHARE = 0.1
MAX_LOAD_PER_CORE_BEFORE = 0.5


def _busy_and_own_seconds() -> tuple[float, float] | None:
  """(CPU seconds all processes spent busy since boot, CPU seconds of this process), or None off Linux."""
  try:
    with open('/proc/stat') as f:
      fields = [int(v) for v in f.readline().split()[1:]]
  except OSError:
    return None
  ticks = os.sysconf('SC_CLK_TCK')
  idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
  busy = sum(fields[:8]) - idle  # user nice system idle iowait irq softirq steal
  own = os.times()
  return busy / ticks, own.user + own.system + own.children_user + own.children_system


class MachineLoad:
  """Load average and other processes' CPU share over a ``with`` block."""

  def __enter__(self) -> 'MachineLoad':
    self.before = os.getloadavg()
    self._start = (time.monotonic(), _busy_and_own_seconds())
    self.max_during = self.before[0]
    return self

  def sample(self) -> None:
    """Note the current 1-minute load average (call between repetitions)."""
    self.max_during = max(self.max_during, os.getloadavg()[0])

  def __exit__(self, *exc) -> None:
    self.after = os.getloadavg()
    self.max_during = max(self.max_during, self.after[0])
    start_time, start_cpu = self._start
    end_cpu = _busy_and_own_seconds()
    elapsed = time.monotonic() - start_time
    self.other_cpu_share = None
    if start_cpu and end_cpu and elapsed > 0:
      others = (end_cpu[0] - start_cpu[0]) - (end_cpu[1] - start_cpu[1])
      # clock ticks (10 ms) make a short block's reading coarse: keep it a share
      self.other_cpu_share = min(max(others, 0.0) / (elapsed * os.cpu_count()), 1.0)

  def report(self) -> dict:
    """The readings and the verdict, as a JSON-ready dict."""
    cores = os.cpu_count()
    if self.other_cpu_share is None:
      comparable = self.before[0] < MAX_LOAD_PER_CORE_BEFORE * cores
      rule = f'1-min load average before < {MAX_LOAD_PER_CORE_BEFORE} x {cores} cores (other processes\' share unknown)'
    else:
      comparable = self.other_cpu_share < MAX_OTHER_CPU_SHARE
      rule = f'other processes < {MAX_OTHER_CPU_SHARE:.0%} of all cores\' time during the run'
    return {'load_average_before': list(self.before), 'load_average_after': list(self.after),
            'load_average_1min_max_during': self.max_during, 'other_processes_cpu_share': self.other_cpu_share,
            'comparable': bool(comparable), 'comparable_rule': rule}

  def line(self) -> str:
    """One line for a benchmark's printout."""
    r = self.report()
    share = r['other_processes_cpu_share']
    share_text = 'unknown' if share is None else f'{100 * share:.0f}% of all cores'
    verdict = 'comparable (quiet machine)' if r['comparable'] else 'NOT COMPARABLE: other processes loaded the machine'
    return (f"load average {self.before[0]:.1f} before, {self.after[0]:.1f} after (max {self.max_during:.1f}); "
            f"other processes used {share_text}; {verdict}")


# environment variables that change the C allocator's behaviour: glibc's tunables, its older
# MALLOC_* names (MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_, ...; jemalloc's MALLOC_CONF too),
# and a preloaded allocator (jemalloc, tcmalloc)
_ALLOCATOR_VARIABLES = ('GLIBC_TUNABLES', 'LD_PRELOAD')


def allocator_settings(environ=os.environ) -> dict[str, str]:
  """The allocator-changing variables set in ``environ``; empty: the C library's defaults."""
  return {name: value for name, value in sorted(environ.items())
          if name in _ALLOCATOR_VARIABLES or name.startswith('MALLOC_')}


def faults_and_system_seconds() -> tuple[int, float]:
  """(minor page faults, system CPU seconds) of this process so far: subtract two readings."""
  usage = resource.getrusage(resource.RUSAGE_SELF)
  return usage.ru_minflt, usage.ru_stime


def peak_rss_bytes() -> int:
  """This process's peak resident set size so far (``ru_maxrss``; kilobytes on Linux, bytes on macOS)."""
  peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
  return peak if os.uname().sysname == 'Darwin' else peak * 1024


def reset_peak_rss() -> bool:
  """Restart the peak-RSS count (``VmHWM``) from the current RSS; False where the kernel does not allow it."""
  try:
    with open('/proc/self/clear_refs', 'w') as f:
      f.write('5')
    return True
  except OSError:
    return False


def current_peak_rss_bytes() -> int | None:
  """``VmHWM`` of /proc/self/status: the peak since the last ``reset_peak_rss`` (None off Linux)."""
  return status_bytes('VmHWM')
