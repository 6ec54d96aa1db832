"""benchmarks.prepare_rate's interleaving of the trees it compares (in a subprocess: its flags share
absl's registry with experiments.prepare's)."""

import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
MEASURE = r'''
import json, pathlib
from benchmarks import prepare_rate
calls = []
def timed_pass(tree, args):
  calls.append(tree.name)
  return {'seconds': 1.0, 'cpu_seconds': 1.0, 'accepted': 1, 'rejected': 0, 'records_per_s': 1.0,
          'records_per_cpu_s': 1.0, 'load': 0.0}
prepare_rate.timed_pass = timed_pass
passes = prepare_rate.measure({'this': pathlib.Path('a'), 'compare': pathlib.Path('b')}, {}, repeats=3)
print(json.dumps({'calls': calls, 'passes': {name: len(runs) for name, runs in passes.items()}}))
'''


def test_each_tree_goes_first_in_turn():
  result = subprocess.run([sys.executable, '-c', MEASURE], cwd=ROOT, capture_output=True, text=True, check=True)
  measured = json.loads(result.stdout.strip().splitlines()[-1])
  assert measured['calls'] == ['a', 'b', 'b', 'a', 'a', 'b']
  assert measured['passes'] == {'this': 3, 'compare': 3}
