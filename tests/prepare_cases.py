"""Runs ``experiments.prepare``'s main over many argument lists in one process (for test_bad_input).

  python tests/prepare_cases.py cases.json results.json

cases.json: [[name, [flag, ...]], ...], run in order (later cases may reuse earlier
outputs). results.json: {name: {'rc': 0 | 1 (a one-line refusal or a usage error) | 2 (any other exception),
'message', 'stdout'}}. One process instead of one per case keeps the tests fast.
"""

import contextlib
import io
import json
import sys

from absl import app
from absl import flags

from experiments import prepare


def run(args):
  flags.FLAGS.unparse_flags()
  out = io.StringIO()
  try:
    flags.FLAGS(['prepare', *args])
    with contextlib.redirect_stdout(out):
      prepare.main(['prepare'])
  except SystemExit as ended:  # the binary's one-line ending (experiments.binary)
    return {'rc': 1 if ended.code else 0, 'message': str(ended.code or ''), 'stdout': out.getvalue()}
  except (app.UsageError, flags.Error) as error:
    return {'rc': 1, 'message': str(error), 'stdout': out.getvalue()}
  except Exception as error:  # a raw traceback in the binary: the test reports it
    return {'rc': 2, 'message': f'{type(error).__name__}: {error}', 'stdout': out.getvalue()}
  return {'rc': 0, 'message': '', 'stdout': out.getvalue()}


if __name__ == '__main__':
  with open(sys.argv[1]) as f:
    cases = json.load(f)
  results = {name: run(args) for name, args in cases}
  with open(sys.argv[2], 'w') as f:
    json.dump(results, f)
