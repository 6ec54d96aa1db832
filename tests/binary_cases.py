"""Runs binaries over many command lines, each ended as ``python -m experiments.<binary>`` would end it.

  python tests/binary_cases.py cases.json results.json

cases.json: {binary: [[name, [flag, ...]], ...]}. results.json: {binary: {name: {'rc': the exit
status, 'stdout', 'stderr', 'usage': whether absl would print its usage text, 'traceback': an
exception no ending caught}}}. The libraries are imported once; each case runs in a fork
that imports the binary with the case's command line (ml_collections reads the
``--config.<field>`` overrides as the flag is defined), parses it with
``binary.parse_flags`` and runs ``main`` as ``binary.run`` does.
"""

import ast
import contextlib
import importlib
import io
import json
import os
import pathlib
import subprocess
import sys
import traceback

from absl import app

from experiments import binary


def run_here(module_name: str, args) -> dict:
  """The case in this process: import, parse, run; how it ended."""
  out, err = io.StringIO(), io.StringIO()
  result = {'rc': 0, 'usage': False, 'traceback': ''}
  sys.argv = [module_name, *args]
  try:
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
      module = importlib.import_module(f'experiments.{module_name}')
      module.main(binary.parse_flags(sys.argv))
  except SystemExit as ended:  # as the interpreter ends it: a message goes to stderr, status 1
    code = ended.code
    result['rc'] = code if isinstance(code, int) else 1 if code else 0
    if code is not None and not isinstance(code, int):
      err.write(f'{code}\n')
  except app.UsageError as error:
    result.update(rc=1, usage=True)
    err.write(f'{error}\n')
  except Exception:  # a traceback the binary would print
    result.update(rc=1, traceback=traceback.format_exc())
  return {**result, 'stdout': out.getvalue(), 'stderr': err.getvalue()}


def run(module_name: str, args) -> dict:
  """The case in a fork of this process (a fresh set of flags for each)."""
  read, write = os.pipe()
  pid = os.fork()
  if pid == 0:
    os.close(read)
    with os.fdopen(write, 'w') as pipe:
      json.dump(run_here(module_name, args), pipe)
    os._exit(0)
  os.close(write)
  with os.fdopen(read) as pipe:
    text = pipe.read()
  os.waitpid(pid, 0)
  return json.loads(text)


def preload(binary_name: str) -> None:
  """Imports here the library modules that experiments.<binary_name> imports, so each fork starts with them loaded.

  Only ``ganet_jax`` modules: the binary itself and ``experiments`` modules define flags, which each
  case defines anew in its own fork.
  """
  source = pathlib.Path(__file__).resolve().parents[1] / 'experiments' / f'{binary_name}.py'
  for node in ast.walk(ast.parse(source.read_text())):
    names = ([node.module] if isinstance(node, ast.ImportFrom) and node.module else
             [alias.name for alias in node.names] if isinstance(node, ast.Import) else [])
    for name in names:
      if name.split('.')[0] == 'ganet_jax':
        importlib.import_module(name)


def run_in_one_process(cases: dict, folder) -> dict:
  """Each binary's command lines (``{binary: [(name, flags)]}``) in one subprocess of this file.

  Returns {binary: {name: how it ended}} (see the module docstring); ``folder`` holds the case and result files.
  """
  root = pathlib.Path(__file__).resolve().parents[1]
  case_file, result_file = pathlib.Path(folder) / 'binary_cases.json', pathlib.Path(folder) / 'binary_results.json'
  case_file.write_text(json.dumps(cases))
  subprocess.run([sys.executable, __file__, str(case_file), str(result_file)], cwd=root,
                 env={**os.environ, 'PYTHONPATH': str(root)}, check=True, timeout=300, capture_output=True)
  return json.loads(result_file.read_text())


if __name__ == '__main__':
  case_file, result_file = sys.argv[1:]
  with open(case_file) as f:
    cases = json.load(f)
  for binary_name in cases:
    preload(binary_name)
  with open(result_file, 'w') as f:
    json.dump({binary_name: {name: run(binary_name, args) for name, args in binary_cases}
               for binary_name, binary_cases in cases.items()}, f)
