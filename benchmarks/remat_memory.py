r"""Compiled memory of a GA-Net training step with and without rematerialised bottlenecks.

  python -m benchmarks.remat_memory [--batch_size=32] [--num_bottlenecks=5] [--json=PATH]

Compiles (does not run) the library's training step (``ganet_jax.training.step.jit_train_step``,
the program ``benchmarks.throughput`` times) for
``GANet(remat=False)`` and ``GANet(remat=True)`` and prints XLA's
``memory_analysis()`` of each: temporaries (activations kept for the backward
pass among them) and arguments + outputs - donated aliases. These are properties
of the compiled program, so unlike timings they do not depend on the machine's
load; the time remat costs is measured by ``benchmarks.throughput --remat``.
``benchmarks.step_memory`` attributes the temporaries to layers.
"""

from __future__ import annotations

import json
import os
import time

from absl import app, flags
import jax
import jax.numpy as jnp

from ganet_jax import GANet
from ganet_jax.conventions import WINDOW_SAMPLES
from ganet_jax.training.losses import cross_entropy
from ganet_jax.training.step import create_train_state, jit_train_step

_BATCH_SIZE = flags.DEFINE_integer('batch_size', 32, 'Records per step.')
_LENGTH = flags.DEFINE_integer('length', WINDOW_SAMPLES, 'Samples per record.')
_NUM_BOTTLENECKS = flags.DEFINE_integer('num_bottlenecks', 5, 'GANet(num_bottlenecks=...).')
_JSON = flags.DEFINE_string('json', None, 'Write the figures to this JSON file.')


def compiled_train_memory(model: GANet, batch_size: int, length: int) -> dict:
  """``memory_analysis()`` fields (bytes) of the jitted, state-donating Adam training step, and its compile time."""
  batch = {'waveforms': jax.ShapeDtypeStruct((batch_size, length, 3), jnp.float32),
           'labels': jax.ShapeDtypeStruct((batch_size,), jnp.int32)}
  # shapes only: nothing is initialised or run
  state = jax.eval_shape(lambda rng: create_train_state(model, rng, (batch_size, length, 3), learning_rate=1e-3),
                         jax.random.key(0))

  start = time.perf_counter()
  compiled = jit_train_step.lower(state, batch, jax.random.key(1), loss_fn=cross_entropy).compile()
  compile_s = time.perf_counter() - start
  analysis = compiled.memory_analysis()
  fields = ('argument_size_in_bytes', 'output_size_in_bytes', 'alias_size_in_bytes', 'temp_size_in_bytes')
  result = {field: int(getattr(analysis, field)) for field in fields}
  result['compile_s'] = compile_s
  return result


def main(argv):
  del argv
  load_before = os.getloadavg()
  result = {'batch_size': _BATCH_SIZE.value, 'length': _LENGTH.value, 'num_bottlenecks': _NUM_BOTTLENECKS.value}
  for remat in (False, True):
    model = GANet(num_bottlenecks=_NUM_BOTTLENECKS.value, remat=remat)
    result[f'remat={remat}'] = compiled_train_memory(model, _BATCH_SIZE.value, _LENGTH.value)
    r = result[f'remat={remat}']
    print(f"remat={remat!s:5s}: temporaries {r['temp_size_in_bytes'] / 1e9:.3f} GB, arguments "
          f"{r['argument_size_in_bytes'] / 1e9:.3f} GB, outputs {r['output_size_in_bytes'] / 1e9:.3f} GB "
          f"(aliased {r['alias_size_in_bytes'] / 1e9:.3f} GB); compiled in {r['compile_s']:.0f} s", flush=True)
  result['load_average_before'], result['load_average_after'] = load_before, os.getloadavg()
  print(f"load average {load_before[0]:.1f} before, {result['load_average_after'][0]:.1f} after "
        f"(the memory figures do not depend on it; the compile times do)")
  if _JSON.value:
    with open(_JSON.value, 'w') as f:
      json.dump(result, f, indent=2)


if __name__ == '__main__':
  app.run(main)
