r"""Per-operation timings behind the CPU performance choices (benchmarks/README.md).

  python -m benchmarks.layer_times [--batch_size=32] [--repeats=5]

For each choice, the formulation the library uses and the obvious alternative,
forward and forward + backward (gradient with respect to input and weights), at
the shapes of the default GA-Net on (batch, 10000, 3) input, jitted, timed
back to back (alternating) and reported as the median over repetitions:
  depthwise: shifted slices (ganet_jax.nn.depthwise) vs XLA grouped convolution;
  stem / CBAM spatial conv: im2col product (ganet_jax.nn.conv1d) vs XLA convolution;
  1x1 conv: product over flattened (batch * time) vs over (batch, time).
"""

from __future__ import annotations

import statistics
import time

from absl import app, flags
import jax
import jax.numpy as jnp
import numpy as np

from ganet_jax.nn.conv1d import conv1d
from ganet_jax.nn.depthwise import depthwise_conv1d, grouped_depthwise_conv1d

_BATCH_SIZE = flags.DEFINE_integer('batch_size', 32, 'Records per call.')
_REPEATS = flags.DEFINE_integer('repeats', 5, 'Timed repetitions.')


def _xla_conv(x, kernel, stride):
  return jax.lax.conv_general_dilated(x, kernel, (stride,), 'SAME', dimension_numbers=('NWC', 'WIO', 'NWC'))


def _pointwise_3d(x, kernel, stride):
  del stride
  return x @ kernel


def _pointwise_2d(x, kernel, stride):
  del stride
  return (x.reshape(-1, x.shape[-1]) @ kernel).reshape(*x.shape[:-1], kernel.shape[-1])


def cases(batch: int):
  """(name, input shape, kernel shape, stride, library formulation, alternative)."""
  depthwise = lambda x, w, s: depthwise_conv1d(x, w, stride=s)
  reference = lambda x, w, s: grouped_depthwise_conv1d(x, w, stride=s)
  im2col = lambda x, w, s: conv1d(x, w, stride=s)
  return [
      ('depthwise k3 (cheap op, block 4)', (batch, 625, 604), (3, 604, 1), 1, depthwise, reference),
      ('depthwise k5 s2 (block 5)', (batch, 625, 1208), (5, 1208), 2, depthwise, reference),
      ('depthwise k3 s2 (block 1)', (batch, 5000, 88), (3, 88), 2, depthwise, reference),
      ('stem conv 3->16 k3 s2', (batch, 10000, 3), (3, 3, 16), 2, im2col, _xla_conv),
      ('CBAM spatial conv 2->1 k7', (batch, 2500, 2), (7, 2, 1), 1, im2col, _xla_conv),
      ('1x1 conv 200->604 (block 5)', (batch, 625, 200), (200, 604), 1, _pointwise_2d, _pointwise_3d),
      ('1x1 conv 288->1792 (head)', (batch, 313, 288), (288, 1792), 1, _pointwise_2d, _pointwise_3d),
  ]


def _median_ms(fn, args, repeats):
  jax.block_until_ready(fn(*args))  # compile and warm up
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - start)
  return 1e3 * statistics.median(times)


def main(argv):
  del argv
  rng = np.random.default_rng(0)
  print(f"{'operation':36s} {'library fwd':>11s} {'alt fwd':>9s} {'library f+b':>11s} {'alt f+b':>9s}  (ms, median)")
  for name, x_shape, w_shape, stride, library, alternative in cases(_BATCH_SIZE.value):
    x = jnp.asarray(rng.standard_normal(x_shape, np.float32))
    w = jnp.asarray(rng.standard_normal(w_shape, np.float32))
    figures = []
    for mode in ('fwd', 'grad'):
      for fn in (library, alternative):
        if mode == 'fwd':
          compiled = jax.jit(lambda x, w, fn=fn: fn(x, w, stride))
        else:
          compiled = jax.jit(jax.grad(lambda x, w, fn=fn: jnp.sum(jnp.sin(fn(x, w, stride))), argnums=(0, 1)))
        figures.append(_median_ms(compiled, (x, w), _REPEATS.value))
    print(f'{name:36s} {figures[0]:11.1f} {figures[1]:9.1f} {figures[2]:11.1f} {figures[3]:9.1f}')


if __name__ == '__main__':
  app.run(main)
