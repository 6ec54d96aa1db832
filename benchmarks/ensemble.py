r"""Ensemble evaluation: one vmapped call for all members against one member at a time.

  python -m benchmarks.ensemble [--members=3] [--records=32] [--batch_size=16] [--width=1.0] [--json=PATH]

Both contenders run in this process on the same records and members (GA-Net networks
initialised with seeds 0..members-1; speed does not depend on training): ``vmapped`` is
``predict_ensemble`` over the stacked variables (one compiled function for every member),
``one by one`` is ``predict_probabilities`` called for each member in turn (one compiled
function, called members times per batch). Compilation is timed apart; the repetitions
are interleaved so that load from other processes hits both alike. The rate is records/s
of ensemble output (every member's probability of each record). ``uptime`` is printed
before and after: a run whose load average exceeds --max_load is marked not comparable.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import time

from absl import app, flags
import jax
import numpy as np

from ganet_jax import GANet
from ganet_jax.conventions import WINDOW_SAMPLES
from ganet_jax.evaluation.predict import predict_ensemble, predict_probabilities, stack_variables
from ganet_jax.models.complexity import parameter_count

_MEMBERS = flags.DEFINE_integer('members', 3, 'Networks in the ensemble.')
_RECORDS = flags.DEFINE_integer('records', 32, 'Records classified per repetition.')
_BATCH_SIZE = flags.DEFINE_integer('batch_size', 16, 'Records per call.')
_LENGTH = flags.DEFINE_integer('length', WINDOW_SAMPLES, 'Samples per record.')
_WIDTH = flags.DEFINE_float('width', 1.0, "GA-Net's width multiplier (1.0: the paper's network).")
_REPEATS = flags.DEFINE_integer('repeats', 3, 'Timed repetitions of each contender.')
_MAX_LOAD = flags.DEFINE_float('max_load', None, 'Load average above which the run is marked not comparable '
                               '(default: half the CPU count).')
_JSON = flags.DEFINE_string('json', None, 'Write the figures to this JSON file.')


def _uptime() -> tuple[str, float]:
  """`uptime`'s line and the 1-minute load average."""
  try:
    line = subprocess.run(['uptime'], capture_output=True, text=True, check=True).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    line = 'uptime unavailable'
  return line, os.getloadavg()[0]


def _timed(fn) -> float:
  start = time.perf_counter()
  fn()
  return time.perf_counter() - start


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  uptime_before, load_before = _uptime()
  print(f'before: {uptime_before}')
  model = GANet(width=_WIDTH.value)
  shape = (1, _LENGTH.value, 3)
  init = jax.jit(model.init)
  members = [init(jax.random.key(seed), np.zeros(shape, np.float32)) for seed in range(_MEMBERS.value)]
  stacked = stack_variables(members)
  records = np.random.default_rng(0).normal(size=(_RECORDS.value, _LENGTH.value, 3)).astype(np.float32)
  batch = _BATCH_SIZE.value

  def vmapped():
    return predict_ensemble(model, stacked, records, batch_size=batch)[0]

  def one_by_one():
    return np.stack([predict_probabilities(model, variables, records, batch_size=batch) for variables in members])

  # First calls compile (one batch's worth of records is enough); timed apart from the rates.
  compile_s = {'vmapped': _timed(lambda: predict_ensemble(model, stacked, records[:1], batch_size=batch)),
               'one_by_one': _timed(lambda: predict_probabilities(model, members[0], records[:1], batch_size=batch))}
  difference = float(np.max(np.abs(vmapped() - one_by_one())))
  seconds = {'vmapped': [], 'one_by_one': []}
  for _ in range(_REPEATS.value):  # interleaved: background load hits both alike
    seconds['vmapped'].append(_timed(vmapped))
    seconds['one_by_one'].append(_timed(one_by_one))
  uptime_after, load_after = _uptime()
  print(f'after:  {uptime_after}')

  cores = os.cpu_count() or 1
  max_load = _MAX_LOAD.value if _MAX_LOAD.value is not None else cores / 2
  loaded = max(load_before, load_after) > max_load
  rates = {name: [_RECORDS.value / s for s in values] for name, values in seconds.items()}
  ratios = [v / o for v, o in zip(rates['vmapped'], rates['one_by_one'])]
  print(f'GA-Net width {_WIDTH.value} ({parameter_count(members[0]["params"]):,} parameters), {_MEMBERS.value} '
        f'members, {_RECORDS.value} records of {_LENGTH.value} x 3, batch {batch}, {jax.default_backend()} '
        f'({platform.processor() or platform.machine()}, {cores} cores), jax {jax.__version__}')
  print(f'{"":12} {"records/s (median; min-max)":>30} {"member-records/s":>17} {"compile s":>10}')
  for name in ('vmapped', 'one_by_one'):
    median = statistics.median(rates[name])
    print(f'{name:12} {median:>14.2f} ({min(rates[name]):.2f}-{max(rates[name]):.2f}) '
          f'{median * _MEMBERS.value:>17.2f} {compile_s[name]:>10.1f}')
  print(f'vmapped / one by one: {statistics.median(ratios):.2f}x (per repetition {", ".join(f"{r:.2f}" for r in ratios)}); '
        f'largest probability difference {difference:.1e}')
  if loaded:
    print(f'NOT COMPARABLE: load average {max(load_before, load_after):.2f} > {max_load:.2f} on {cores} cores '
          '(other processes share the CPU); rerun on a quiet machine for figures to compare')
  if _JSON.value:
    with open(_JSON.value, 'w') as f:
      json.dump({'members': _MEMBERS.value, 'records': _RECORDS.value, 'length': _LENGTH.value, 'batch_size': batch,
                 'width': _WIDTH.value, 'backend': jax.default_backend(), 'cores': cores, 'jax': jax.__version__,
                 'seconds': seconds, 'records_per_s': rates, 'ratio_per_repetition': ratios, 'compile_s': compile_s,
                 'max_probability_difference': difference, 'uptime_before': uptime_before,
                 'uptime_after': uptime_after, 'comparable': not loaded}, f, indent=2)


if __name__ == '__main__':
  app.run(main)
