r"""A/B of the depthwise convolution's backward pass: autodiff of the shifted slices vs a hand-written VJP.

  python -m benchmarks.depthwise_backward [--batch_size=32] [--repeats=7]

At the shapes of the default GA-Net on (batch, 10000, 3) input, the jitted
gradient (input and kernel) of ``sum(out * probe)`` for a fixed random probe,
with the two formulations' calls interleaved so that load from other processes
hits both alike; median over repetitions of wall time and of the process's CPU
time (``time.process_time``, all threads), and the per-repetition wall ratio
range. The load average is printed before and after: under load from other
processes wall times are not quiet-machine figures and swing with the
scheduler; CPU time is the steadier A/B signal there.

The hand-written VJP (``_own_vjp_conv``) lives here, not in the library: it
was measured equal to autodiff's (benchmarks/README.md, "What was tried and did not help") and
is kept to repeat the measurement on a quiet machine.
"""

from __future__ import annotations

import functools
import os
import statistics
import time

from absl import app, flags
import jax
import jax.numpy as jnp
import numpy as np

from ganet_jax.nn.depthwise import _slices_conv, same_padding, shifted_windows

_BATCH_SIZE = flags.DEFINE_integer('batch_size', 32, 'Records per call.')
_REPEATS = flags.DEFINE_integer('repeats', 7, 'Timed repetitions.')

# (name, input shape without batch, kernel shape, stride)
CASES = (
    ('cheap op k3, block 1 ghost2', (5000, 44), (3, 44, 1), 1),
    ('strided dw k3 s2, block 1', (5000, 88), (3, 88, 1), 2),
    ('cheap op k3, block 4 ghost1', (625, 432), (3, 432, 1), 1),
    ('strided dw k5 s2, block 5', (625, 1208), (5, 1208, 1), 2),
)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _own_vjp_conv(x: jax.Array, kernel: jax.Array, stride: int) -> jax.Array:
  return _slices_conv(x, kernel, stride)


def _slices_forward(x, kernel, stride):
  return _slices_conv(x, kernel, stride), (x, kernel)


def _slices_backward(stride, residuals, grad):
  """Input and kernel gradients of the shifted-slice convolution, themselves shifted slices and sums."""
  x, kernel = residuals
  kernel_size, channels, multiplier = kernel.shape
  length = x.shape[-2]
  out_length = grad.shape[-3]
  left, right = same_padding(length, kernel_size, stride)

  # kernel gradient: tap k sums window_k x grad over batch and time
  windows = shifted_windows(x, kernel_size, stride)
  kernel_grad = jnp.stack([jnp.sum(window[..., None] * grad, axis=(0, 1)) for window in windows])

  # input gradient of the padded input: position p = q * stride + r receives
  # grad[q - i] * kernel[r + i * stride] for every tap of phase r
  taps_per_phase = -(-kernel_size // stride)
  padded_length = length + left + right
  steps = -(-padded_length // stride)  # q ranges over [0, steps)
  # grad padded so that grad[q - i] is padded_grad[q - i + taps_per_phase - 1]
  padded_grad = jax.lax.pad(grad, jnp.zeros((), grad.dtype),
                            [(0, 0, 0), (taps_per_phase - 1, steps - out_length, 0), (0, 0, 0), (0, 0, 0)])
  per_phase = []
  for r in range(stride):
    total = None
    for i in range(taps_per_phase):
      k = r + i * stride
      if k >= kernel_size:
        break
      start = taps_per_phase - 1 - i
      term = jnp.sum(jax.lax.slice_in_dim(padded_grad, start, start + steps, axis=1) * kernel[k], axis=-1)
      total = term if total is None else total + term
    per_phase.append(total if total is not None else jnp.zeros((x.shape[0], steps, channels), x.dtype))
  interleaved = jnp.stack(per_phase, axis=2).reshape(x.shape[0], steps * stride, channels)
  return jax.lax.slice_in_dim(interleaved, left, left + length, axis=1), kernel_grad


_own_vjp_conv.defvjp(_slices_forward, _slices_backward)




def _autodiff(x, kernel, stride):
  out = _slices_conv(x, kernel, stride)
  return out.reshape(*out.shape[:-2], -1)


def _custom(x, kernel, stride):
  out = _own_vjp_conv(x, kernel, stride)
  return out.reshape(*out.shape[:-2], -1)


def main(argv):
  del argv
  rng = np.random.default_rng(0)
  print(f'load average before: {os.getloadavg()}')
  print(f"{'operation':30s} {'autodiff ms':>11s} {'own VJP ms':>10s} {'ratio':>6s} {'per-rep':>9s}  "
        f"{'autodiff CPU ms':>15s} {'own VJP CPU ms':>14s} {'ratio':>6s}")
  for name, x_shape, w_shape, stride in CASES:
    x = jnp.asarray(rng.standard_normal((_BATCH_SIZE.value, *x_shape), np.float32))
    w = jnp.asarray(rng.standard_normal(w_shape, np.float32))
    probe = jnp.asarray(rng.standard_normal((_BATCH_SIZE.value, -(-x_shape[0] // stride), x_shape[1]), np.float32))
    fns = [jax.jit(jax.grad(lambda x, w, probe, f=f, s=stride: jnp.sum(f(x, w, s) * probe), argnums=(0, 1)))
           for f in (_autodiff, _custom)]
    for fn in fns:
      jax.block_until_ready(fn(x, w, probe))
    times, cpu_times = [[], []], [[], []]
    for _ in range(_REPEATS.value):
      for fn, store, cpu_store in zip(fns, times, cpu_times):
        start, cpu_start = time.perf_counter(), time.process_time()
        jax.block_until_ready(fn(x, w, probe))
        store.append(time.perf_counter() - start)
        cpu_store.append(time.process_time() - cpu_start)
    a, b = (1e3 * statistics.median(t) for t in times)
    ca, cb = (1e3 * statistics.median(t) for t in cpu_times)
    per = sorted(ta / tb for ta, tb in zip(*times))
    print(f'{name:30s} {a:11.1f} {b:10.1f} {a / b:5.2f}x {per[0]:.2f}-{per[-1]:.2f}  '
          f'{ca:15.1f} {cb:14.1f} {ca / cb:5.2f}x')
  print(f'load average after: {os.getloadavg()}')


if __name__ == '__main__':
  app.run(main)
