r"""Where GA-Net's compiled training or inference step spends its time, by layer kind.

  python -m benchmarks.step_profile [--mode=train|infer] [--batch_size=32] [--repeats=3] [--top=15]

Runs the step under ``jax.profiler`` with XLA's per-operation trace events on
(``--xla_cpu_enable_xprof_traceme``), sums each compiled operation's time over
``--repeats`` steps and attributes it, through the operation's name scope in the
compiled HLO, to a kind of layer (1x1 convolutions, depthwise convolutions,
BatchNorm, CBAM, ghost concatenation...), forward and backward apart. Prints ms per
step per kind and the slowest single operations with their shapes. The times are
thread time of the runtime's operations: on a loaded machine they stretch like
any other timing (see ``benchmarks/load.py``); their shares are what to compare.
"""

from __future__ import annotations

import collections
import gzip
import json
import os
import pathlib
import re
import tempfile

# before jax reads its flags: the CPU runtime then emits one trace event per operation
os.environ['XLA_FLAGS'] = os.environ.get('XLA_FLAGS', '') + ' --xla_cpu_enable_xprof_traceme=true'

from absl import app, flags  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from ganet_jax import GANet  # noqa: E402
from ganet_jax.conventions import WINDOW_SAMPLES  # noqa: E402
from ganet_jax.evaluation import predict  # noqa: E402
from ganet_jax.training import losses, step  # noqa: E402

_MODE = flags.DEFINE_enum('mode', 'train', ['train', 'infer'], 'The training step or the inference batch.')
_BATCH_SIZE = flags.DEFINE_integer('batch_size', 32, 'Records per step.')
_REPEATS = flags.DEFINE_integer('repeats', 3, 'Steps traced (after one untraced warm-up step).')
_TOP = flags.DEFINE_integer('top', 15, 'Slowest single operations to print.')

# name-scope fragments -> layer kind, first match wins
_KINDS = (('depthwise', 'depthwise'), ('Dense', '1x1 conv / dense'), ('dot_general', '1x1 conv / dense'),
          ('concatenate', 'ghost concatenation'), ('_bn', 'BatchNorm'), ('cbam', 'CBAM'), ('relu', 'ReLU'),
          ('stem', 'stem'))
_RUNTIME_EVENTS = re.compile(r'^(ThunkExecutor|SlinkyThreadPool|Pjit|Common|Parse|Handle|Allocate|Wait|end:|'
                             r'Python|Threadpool|DevicePut|\$)')


def kind_of(op_name: str) -> str:
  """'backward ' + kind for an operation of the backward pass (autodiff's transpose), else the kind."""
  direction = 'backward ' if 'transpose(' in op_name else ''
  lowered = op_name.lower()
  for fragment, kind in _KINDS:
    if fragment.lower() in lowered:
      return direction + kind
  return direction + 'other: ' + op_name.rsplit('/', 1)[-1]


def hlo_operations(compiled_text: str) -> dict[str, tuple[str, str]]:
  """{operation name: (shape, op_name metadata)} of a compiled module's text."""
  operations = {}
  for line in compiled_text.splitlines():
    match = re.match(r'\s*(?:ROOT )?%([\w.\-]+) = (\S+) ', line)
    if match:
      op_name = re.search(r'op_name="([^"]+)"', line)
      operations[match.group(1)] = (match.group(2), op_name.group(1) if op_name else '')
  return operations


def traced_durations(run, repeats: int) -> collections.Counter:
  """Microseconds per trace event name, summed over ``repeats`` calls of ``run``."""
  with tempfile.TemporaryDirectory() as folder:
    with jax.profiler.trace(folder, create_perfetto_trace=True):
      for _ in range(repeats):
        jax.block_until_ready(run())
    trace = json.load(gzip.open(next(pathlib.Path(folder).rglob('*.trace.json.gz'))))
  durations = collections.Counter()
  for event in trace['traceEvents'] if isinstance(trace, dict) else trace:
    if event.get('ph') == 'X' and not _RUNTIME_EVENTS.match(event['name']):
      durations[event['name']] += event['dur']
  return durations


def _programs(model: GANet, batch_size: int):
  """(compiled program, a function running it once) for --mode."""
  shape = (batch_size, WINDOW_SAMPLES, 3)
  rng = np.random.default_rng(0)
  waveforms = jnp.asarray(rng.normal(size=shape), jnp.float32)
  state = step.create_train_state(model, jax.random.key(0), shape, learning_rate=1e-3)
  if _MODE.value == 'infer':
    variables = step.model_variables(state)
    # the jitted batch that predict_probabilities runs
    compiled = predict._p_tectonic.lower(model, variables, waveforms, None,
                                           predict.inference_chunk(WINDOW_SAMPLES)).compile()
    return compiled, lambda: compiled(variables, waveforms)
  batch = {'waveforms': waveforms, 'labels': jnp.asarray(rng.integers(0, 2, batch_size), jnp.int32)}
  compiled = step.jit_train_step.lower(state, batch, jax.random.key(1), loss_fn=losses.cross_entropy).compile()
  holder = {'state': state}

  def run():
    holder['state'], metrics = compiled(holder['state'], batch, jax.random.key(1))
    return metrics['loss']

  return compiled, run


def main(argv):
  del argv
  compiled, run = _programs(GANet(), _BATCH_SIZE.value)
  jax.block_until_ready(run())  # warm-up, untraced
  durations = traced_durations(run, _REPEATS.value)
  operations = hlo_operations(compiled.as_text())
  per_kind = collections.Counter()
  for name, microseconds in durations.items():
    per_kind[kind_of(operations.get(name, ('', name))[1])] += microseconds
  total = sum(per_kind.values())
  print(f'{_MODE.value} step, batch {_BATCH_SIZE.value} x {WINDOW_SAMPLES} x 3: '
        f'{total / 1e3 / _REPEATS.value:.1f} ms of operation time per step')
  for kind, microseconds in per_kind.most_common():
    print(f'{microseconds / 1e3 / _REPEATS.value:9.1f} ms {100 * microseconds / total:5.1f}%  {kind}')
  print('slowest operations (ms per step):')
  for name, microseconds in durations.most_common(_TOP.value):
    shape, op_name = operations.get(name, ('?', ''))
    print(f'{microseconds / 1e3 / _REPEATS.value:9.1f}  {name:28s} {shape:30s} {op_name[-80:]}')


if __name__ == '__main__':
  app.run(main)
