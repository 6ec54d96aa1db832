r"""Ensemble evaluation: one compiled call for all members against one member at a time.

  python -m benchmarks.ensemble [--members=3] [--records=32] [--batch_size=16] [--width=1.0] [--json=PATH]

Both contenders run in this process on the same records and members (GA-Net networks
initialised with seeds 0..members-1; speed does not depend on training): ``one_call`` is
``predict_ensemble`` over the stacked variables (one compiled function for every member:
``jax.vmap`` over them on accelerators, a loop over them on CPU, ``--chunk=none`` vmaps on CPU too),
``one by one`` is ``predict_probabilities`` called for each member in turn (one compiled
function, called members times per batch). Compilation is timed apart; the repetitions
are interleaved so that load from other processes hits both alike. The rate is records/s
of ensemble output (every member's probability of each record). ``uptime`` is printed
before and after, and a run in which other processes took CPU time is marked not
comparable (``benchmarks.load.MachineLoad``, the rule of ``benchmarks.throughput``).
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

from benchmarks.load import MachineLoad
from ganet_jax import GANet
from ganet_jax.conventions import WINDOW_SAMPLES
from ganet_jax.evaluation.predict import parse_chunk, predict_ensemble, predict_probabilities, stack_variables
from ganet_jax.models.complexity import parameter_count

_MEMBERS = flags.DEFINE_integer('members', 3, 'Networks in the ensemble.')
_RECORDS = flags.DEFINE_integer('records', 32, 'Records classified per repetition.')
_BATCH_SIZE = flags.DEFINE_integer('batch_size', 16, 'Records per call.')
_LENGTH = flags.DEFINE_integer('length', WINDOW_SAMPLES, 'Samples per record.')
_WIDTH = flags.DEFINE_float('width', 1.0, "GA-Net's width multiplier (1.0: the paper's network).")
_REPEATS = flags.DEFINE_integer('repeats', 3, 'Timed repetitions of each contender.')
_CHUNK = flags.DEFINE_string('chunk', 'auto', "Records per chunk of a batch, both contenders alike: 'auto' (the "
                              "library's choice for this backend), 'none' (the whole batch) or a number.")
_JSON = flags.DEFINE_string('json', None, 'Write the figures to this JSON file.')


def _uptime() -> str:
  """`uptime`'s line."""
  try:
    return subprocess.run(['uptime'], capture_output=True, text=True, check=True).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    return 'uptime unavailable'


def _timed(fn) -> float:
  start = time.perf_counter()
  fn()
  return time.perf_counter() - start


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  uptime_before = _uptime()
  print(f'before: {uptime_before}')
  load = MachineLoad().__enter__()
  model = GANet(width=_WIDTH.value)
  shape = (1, _LENGTH.value, 3)
  init = jax.jit(model.init)
  members = [init(jax.random.key(seed), np.zeros(shape, np.float32)) for seed in range(_MEMBERS.value)]
  stacked = stack_variables(members)
  records = np.random.default_rng(0).normal(size=(_RECORDS.value, _LENGTH.value, 3)).astype(np.float32)
  batch = _BATCH_SIZE.value
  try:
    chunk = parse_chunk(_CHUNK.value)
  except ValueError as error:
    raise app.UsageError(f'--chunk={_CHUNK.value}: {error}') from None

  def one_call():
    return predict_ensemble(model, stacked, records, batch_size=batch, chunk=chunk)[0]

  def one_by_one():
    return np.stack([predict_probabilities(model, variables, records, batch_size=batch, chunk=chunk)
                     for variables in members])

  # First calls compile (one batch's worth of records is enough); timed apart from the rates.
  compile_s = {'one_call': _timed(lambda: predict_ensemble(model, stacked, records[:1], batch_size=batch, chunk=chunk)),
               'one_by_one': _timed(lambda: predict_probabilities(model, members[0], records[:1], batch_size=batch,
                                                                  chunk=chunk))}
  difference = float(np.max(np.abs(one_call() - one_by_one())))
  seconds = {'one_call': [], 'one_by_one': []}
  for _ in range(_REPEATS.value):  # interleaved: background load hits both alike
    seconds['one_call'].append(_timed(one_call))
    seconds['one_by_one'].append(_timed(one_by_one))
  load.__exit__(None, None, None)
  uptime_after = _uptime()
  print(f'after:  {uptime_after}')

  cores = os.cpu_count() or 1
  verdict = load.report()
  rates = {name: [_RECORDS.value / s for s in values] for name, values in seconds.items()}
  ratios = [v / o for v, o in zip(rates['one_call'], rates['one_by_one'])]
  print(f'GA-Net width {_WIDTH.value} ({parameter_count(members[0]["params"]):,} parameters), {_MEMBERS.value} '
        f'members, {_RECORDS.value} records of {_LENGTH.value} x 3, batch {batch} in chunks of {_CHUNK.value}, {jax.default_backend()} '
        f'({platform.processor() or platform.machine()}, {cores} cores), jax {jax.__version__}')
  print(f'{"":12} {"records/s (median; min-max)":>30} {"member-records/s":>17} {"compile s":>10}')
  for name in ('one_call', 'one_by_one'):
    median = statistics.median(rates[name])
    print(f'{name:12} {median:>14.2f} ({min(rates[name]):.2f}-{max(rates[name]):.2f}) '
          f'{median * _MEMBERS.value:>17.2f} {compile_s[name]:>10.1f}')
  print(f'one call / one by one: {statistics.median(ratios):.2f}x (per repetition {", ".join(f"{r:.2f}" for r in ratios)}); '
        f'largest probability difference {difference:.1e}')
  share = verdict['other_processes_cpu_share']
  print(f"other processes used {'an unknown share' if share is None else f'{100 * share:.0f}%'} of all cores: "
        + ('comparable (quiet machine)' if verdict['comparable'] else
           f"NOT COMPARABLE ({verdict['comparable_rule']} fails); rerun on a quiet machine for figures to compare"))
  if _JSON.value:
    with open(_JSON.value, 'w') as f:
      json.dump({'members': _MEMBERS.value, 'chunk': _CHUNK.value, 'records': _RECORDS.value, 'length': _LENGTH.value, 'batch_size': batch,
                 'width': _WIDTH.value, 'backend': jax.default_backend(), 'cores': cores, 'jax': jax.__version__,
                 'seconds': seconds, 'records_per_s': rates, 'ratio_per_repetition': ratios, 'compile_s': compile_s,
                 'max_probability_difference': difference, 'uptime_before': uptime_before,
                 'uptime_after': uptime_after, 'load': verdict, 'comparable': verdict['comparable']}, f, indent=2)


if __name__ == '__main__':
  app.run(main)
