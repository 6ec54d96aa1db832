r"""Training and inference throughput of the default GA-Net, optionally side by side with PyTorch.

  python -m benchmarks.throughput [--batch_size=32] [--against=torch] [--json=PATH]

Records/s for one jitted training step (forward, cross-entropy, backward, Adam
update; state donated) and one jitted inference step, on (batch, 10000, 3)
float32 input. Compilation is timed separately; one warm-up call is excluded;
each of ``--repeats`` repetitions times ``--steps`` calls and the median and
spread (min, max) over repetitions are reported. With ``--against=torch`` the
same network written in PyTorch (``benchmarks/torch_ganet.py``) runs eagerly in
the same process, its repetitions interleaved with JAX's so that load from
other processes hits both alike, and the JAX/PyTorch ratios are printed. The
achieved FLOP/s (XLA's cost analysis, 2 x MACs) is compared with a float32
matrix product's rate measured in the same run.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from typing import Callable

from absl import app, flags
import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax

from ganet_jax import GANet
from ganet_jax.conventions import WINDOW_SAMPLES
from ganet_jax.models.complexity import parameter_count

_BATCH_SIZE = flags.DEFINE_integer('batch_size', 32, 'Records per step.')
_AGAINST = flags.DEFINE_enum('against', None, ['torch'], 'Also time the PyTorch port in the same run.')
_JSON = flags.DEFINE_string('json', None, 'Write all figures to this JSON file.')
_REPEATS = flags.DEFINE_integer('repeats', 5, 'Timed repetitions per measurement.')
_STEPS = flags.DEFINE_integer('steps', 3, 'Steps per repetition.')
_LENGTH = flags.DEFINE_integer('length', WINDOW_SAMPLES, 'Samples per record.')


def _summary(seconds: list[float], records: int) -> dict:
  """Records/s over repetitions: median and spread."""
  rates = [records / s for s in seconds]
  return {'records_per_s_median': statistics.median(rates), 'records_per_s_min': min(rates),
          'records_per_s_max': max(rates), 'seconds_per_repeat': seconds}


def _time(fn: Callable[[], None], steps: int) -> float:
  start = time.perf_counter()
  for _ in range(steps):
    fn()
  return time.perf_counter() - start


def _matmul_flops_per_s(size: int = 2048, repeats: int = 5) -> float:
  """Float32 matrix-product rate through XLA: the machine's compute ceiling."""
  a = jax.random.normal(jax.random.key(0), (size, size), jnp.float32)
  matmul = jax.jit(lambda a: a @ a)
  matmul(a).block_until_ready()
  best = min(_time(lambda: matmul(a).block_until_ready(), 1) for _ in range(repeats))
  return 2 * size**3 / best


def _jax_steps(model: GANet, batch: np.ndarray, labels: np.ndarray) -> dict:
  """Compiled JAX train and inference steps plus their compile times and XLA FLOP counts."""
  x, y = jnp.asarray(batch), jnp.asarray(labels)
  variables = jax.jit(model.init)(jax.random.key(0), x[:1])
  tx = optax.adam(1e-3)
  state = {'params': variables['params'], 'batch_stats': variables['batch_stats'],
           'opt_state': tx.init(variables['params']), 'rng': jax.random.key(1)}

  def train_step(state, x, y):
    rng, dropout_rng = jax.random.split(state['rng'])

    def loss_fn(params):
      logits, updates = model.apply({'params': params, 'batch_stats': state['batch_stats']}, x, train=True,
                                    mutable=['batch_stats'], rngs={'dropout': dropout_rng})
      return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), updates

    (loss, updates), grads = jax.value_and_grad(loss_fn, has_aux=True)(state['params'])
    param_updates, opt_state = tx.update(grads, state['opt_state'], state['params'])
    return {'params': optax.apply_updates(state['params'], param_updates),
            'batch_stats': updates['batch_stats'], 'opt_state': opt_state, 'rng': rng}, loss

  def infer_step(variables, x):
    return model.apply(variables, x, train=False)

  start = time.perf_counter()
  train = jax.jit(train_step, donate_argnums=0).lower(state, x, y).compile()
  train_compile = time.perf_counter() - start
  # a copy: the training step donates (deletes) the state's buffers
  eval_vars = jax.tree.map(jnp.copy, {'params': state['params'], 'batch_stats': state['batch_stats']})
  start = time.perf_counter()
  infer = jax.jit(infer_step).lower(eval_vars, x).compile()
  infer_compile = time.perf_counter() - start

  holder = {'state': state}

  def run_train():
    holder['state'], loss = train(holder['state'], x, y)
    loss.block_until_ready()

  def run_infer():
    infer(eval_vars, x).block_until_ready()

  return {'train': run_train, 'infer': run_infer, 'params': parameter_count(variables['params']),
          'compile_s': {'train': train_compile, 'infer': infer_compile},
          'xla_flops': {'train': train.cost_analysis().get('flops'), 'infer': infer.cost_analysis().get('flops')}}


def _torch_steps(batch: np.ndarray, labels: np.ndarray) -> dict:
  """Eager PyTorch train and inference steps of the same network (channels-first input)."""
  import torch  # benchmark-only dependency
  from benchmarks.torch_ganet import TorchGANet

  torch.set_num_threads(os.cpu_count())
  torch.manual_seed(0)
  device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
  # wait for queued GPU work before the clock stops; a no-op on the CPU
  synchronize = torch.cuda.synchronize if device.type == 'cuda' else (lambda: None)
  model = TorchGANet(in_channels=batch.shape[-1]).to(device)
  optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
  loss_fn = torch.nn.CrossEntropyLoss()
  x = torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 2, 1))).to(device)
  y = torch.from_numpy(labels.astype(np.int64)).to(device)

  def run_train():
    model.train()
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.step()
    synchronize()

  def run_infer():
    model.eval()
    with torch.inference_mode():
      model(x)
    synchronize()

  return {'train': run_train, 'infer': run_infer, 'params': sum(p.numel() for p in model.parameters()),
          'version': torch.__version__, 'threads': torch.get_num_threads(), 'device': str(device)}


def benchmark(batch_size: int, length: int, repeats: int, steps: int, against: str | None) -> dict:
  """All throughput figures as a dict (see the module docstring)."""
  rng = np.random.default_rng(0)
  batch = rng.standard_normal((batch_size, length, 3)).astype(np.float32)
  labels = rng.integers(0, 2, batch_size).astype(np.int32)
  model = GANet()
  contenders = {'jax': _jax_steps(model, batch, labels)}
  if against == 'torch':
    contenders['torch'] = _torch_steps(batch, labels)
    if contenders['torch']['params'] != contenders['jax']['params']:
      raise AssertionError(f"parameter counts differ: jax {contenders['jax']['params']}, "
                           f"torch {contenders['torch']['params']}")
  matmul_rate = _matmul_flops_per_s()
  seconds = {name: {'train': [], 'infer': []} for name in contenders}
  for mode in ('train', 'infer'):
    for steps_of in contenders.values():
      steps_of[mode]()  # warm-up, excluded
    for _ in range(repeats):  # interleaved: background load hits every contender alike
      for name, steps_of in contenders.items():
        seconds[name][mode].append(_time(steps_of[mode], steps))
  records = batch_size * steps
  result = {
      'device': str(jax.devices()[0].device_kind), 'platform': jax.devices()[0].platform,
      'cpu_count': os.cpu_count(), 'machine': platform.processor() or platform.machine(),
      'versions': {'jax': jax.__version__, 'flax': flax.__version__, 'optax': optax.__version__,
                   'numpy': np.__version__, 'python': platform.python_version()},
      'batch_size': batch_size, 'length': length, 'repeats': repeats, 'steps_per_repeat': steps,
      'matmul_flops_per_s': matmul_rate, 'parameters': contenders['jax']['params'],
      'jax': {mode: _summary(seconds['jax'][mode], records) for mode in ('train', 'infer')},
  }
  jax_result = result['jax']
  jax_result['compile_s'] = contenders['jax']['compile_s']
  for mode in ('train', 'infer'):
    flops = contenders['jax']['xla_flops'][mode]
    rate = flops / batch_size * jax_result[mode]['records_per_s_median'] if flops else None
    jax_result[mode].update({'xla_flops_per_step': flops, 'achieved_flops_per_s': rate,
                             'fraction_of_matmul_rate': rate / matmul_rate if rate else None})
  if 'torch' in contenders:
    result['versions']['torch'] = contenders['torch']['version']
    result['torch'] = {mode: _summary(seconds['torch'][mode], records) for mode in ('train', 'infer')}
    result['torch']['threads'] = contenders['torch']['threads']
    result['torch']['device'] = contenders['torch']['device']
    result['ratio_jax_over_torch'] = {
        mode: jax_result[mode]['records_per_s_median'] / result['torch'][mode]['records_per_s_median']
        for mode in ('train', 'infer')}
    # per-repetition ratios of the interleaved pairs show the noise of the ratio itself
    result['ratio_per_repeat'] = {
        mode: [t / j for j, t in zip(seconds['jax'][mode], seconds['torch'][mode])] for mode in ('train', 'infer')}
  return result


def _print(result: dict) -> None:
  print(f"device {result['device']} ({result['platform']}, {result['cpu_count']} cores); batch "
        f"{result['batch_size']} x {result['length']} x 3; {result['parameters']:,} parameters; "
        f"{result['repeats']} repetitions of {result['steps_per_repeat']} steps")
  print(f"float32 matmul rate: {result['matmul_flops_per_s'] / 1e9:.1f} GFLOP/s")
  print(f"JAX compile: train {result['jax']['compile_s']['train']:.1f} s, "
        f"inference {result['jax']['compile_s']['infer']:.1f} s")
  for mode in ('train', 'infer'):
    for name in ('jax', 'torch'):
      if name not in result:
        continue
      r = result[name][mode]
      line = (f"{mode:5s} {name:5s}: {r['records_per_s_median']:8.1f} records/s "
              f"(min {r['records_per_s_min']:.1f}, max {r['records_per_s_max']:.1f})")
      if name == 'jax' and r['achieved_flops_per_s']:
        line += (f"; {r['achieved_flops_per_s'] / 1e9:.1f} GFLOP/s XLA-counted = "
                 f"{100 * r['fraction_of_matmul_rate']:.0f}% of matmul rate")
      print(line)
    if 'ratio_jax_over_torch' in result:
      per = result['ratio_per_repeat'][mode]
      print(f"{mode:5s} JAX / PyTorch: {result['ratio_jax_over_torch'][mode]:.2f}x "
            f"(per repetition {min(per):.2f}-{max(per):.2f})")


def main(argv):
  del argv
  result = benchmark(_BATCH_SIZE.value, _LENGTH.value, _REPEATS.value, _STEPS.value, _AGAINST.value)
  _print(result)
  if _JSON.value:
    with open(_JSON.value, 'w') as f:
      json.dump(result, f, indent=2)


if __name__ == '__main__':
  app.run(main)
