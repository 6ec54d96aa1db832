r"""Training and inference throughput and memory of the default GA-Net, optionally beside PyTorch.

  python -m benchmarks.throughput [--batch_size=32] [--against=torch,torch_compile] [--json=PATH]

Records/s of what a user runs, on (batch, 10000, 3) float32 input: the library's
training step (``ganet_jax.training.step.jit_train_step`` on a ``create_train_state``
state: forward, cross-entropy, backward, Adam update, state donated) and its
inference entry point (``ganet_jax.evaluation.predict.predict_probabilities`` over
the batch's records). Compilation is timed separately (ahead of time, on the
programs those two run); one warm-up call is excluded; each of ``--repeats``
repetitions times ``--steps`` calls and the median and spread (min, max) over
repetitions are reported.

``--against`` adds the same network written in PyTorch
(``benchmarks/torch_ganet.py``): ``torch`` runs it eagerly, ``torch_compile``
under ``torch.compile`` (its compile time, the first calls, reported apart).
All contenders run in the same process, their repetitions interleaved so that
load from other processes hits them alike, and the JAX / contender ratios are
printed (median, and per repetition).

Inference runs the batch in chunks of ``--infer_chunk`` records, every contender
alike: 'auto' is what the library's inference does on this backend
(``ganet_jax.evaluation.predict.inference_chunk``: a few records at a time on
CPU, where they stay in cache, the whole batch on accelerators), 'none' the
whole batch at once.

The achieved FLOP/s (XLA's cost analysis of the JAX program, 2 x MACs, used for
every contender since they compute the same network) is compared with a float32
matrix product's rate measured in the same run.

Peak memory of a training step is measured for each contender in a fresh
subprocess, so that one contender's peak does not hide another's: peak RSS of
the whole process (compilation included) and of the timed steps alone (the
kernel's high-water mark reset after the warm-up step), and for JAX the compiled
program's ``memory_analysis()`` (arguments, outputs, temporaries: load-independent).

The load average before and after, and the share of the CPU other processes
took meanwhile, are recorded (``benchmarks/load.py``); a run with load from
other processes is marked NOT COMPARABLE: its rates and ratios are not
quiet-machine figures. So are the C allocator's settings from the environment
(``GLIBC_TUNABLES``, ``LD_PRELOAD``, ``MALLOC_*``) and each contender's minor page
faults and system CPU time per step: with glibc's defaults both frameworks
page-fault their large buffers afresh every step, PyTorch eager far more than
JAX, and a tuned allocator changes the ratios (benchmarks/README.md, item 17).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from typing import Callable

from absl import app, flags
import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax

from benchmarks.load import (MachineLoad, allocator_settings, current_peak_rss_bytes, faults_and_system_seconds,
                             peak_rss_bytes, reset_peak_rss)
from ganet_jax import GANet
from ganet_jax.conventions import WINDOW_SAMPLES
from ganet_jax.evaluation import predict
from ganet_jax.evaluation.predict import parse_chunk, resolve_chunk
from ganet_jax.models.complexity import parameter_count
from ganet_jax.training.host_memory import release_free_memory
from ganet_jax.training.losses import cross_entropy
from ganet_jax.training.step import create_train_state, jit_train_step, model_variables

CONTENDERS = ('torch', 'torch_compile')

_BATCH_SIZE = flags.DEFINE_integer('batch_size', 32, 'Records per step.')
_AGAINST = flags.DEFINE_list('against', [], f'PyTorch contenders timed in the same run, any of {CONTENDERS}.')
flags.register_validator('against', lambda names: set(names) <= set(CONTENDERS),
                         message=f'--against takes a comma-separated subset of {CONTENDERS}')
_JSON = flags.DEFINE_string('json', None, 'Write all figures to this JSON file.')
_REPEATS = flags.DEFINE_integer('repeats', 5, 'Timed repetitions per measurement.')
_STEPS = flags.DEFINE_integer('steps', 3, 'Steps per repetition.')
_LENGTH = flags.DEFINE_integer('length', WINDOW_SAMPLES, 'Samples per record.')
_REMAT = flags.DEFINE_bool('remat', False, 'GANet(remat=...): rematerialise each bottleneck in the backward pass.')
_INFER_CHUNK = flags.DEFINE_string(
    'infer_chunk', 'auto', "Records per chunk of an inference batch, every contender alike: 'auto' (the library's "
    "choice for this backend), 'none' (the whole batch) or a number.")


def _is_chunk(text: str) -> bool:
  try:
    parse_chunk(text)
  except ValueError:
    return False
  return True


flags.register_validator('infer_chunk', _is_chunk, message="--infer_chunk takes 'auto', 'none' or a positive number")
_MEMORY = flags.DEFINE_bool('memory', True, 'Measure each contender\'s peak memory in a fresh subprocess.')
_MEMORY_OF = flags.DEFINE_string('memory_of', None, 'Internal: measure this contender\'s memory and print JSON.')


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


def _model(remat: bool) -> GANet:
  return GANet(remat=True) if remat else GANet()


def _jax_steps(model: GANet, batch: np.ndarray, labels: np.ndarray, infer_chunk: int | None) -> dict:
  """The library's training step and inference entry point on one batch, with compile times, FLOPs and memory.

  Training is ``jit_train_step`` (cross-entropy, Adam, state donated) on a ``create_train_state``
  state, compiled ahead of time: the program ``experiments.train``'s epochs run. Inference is
  ``predict_probabilities`` over the batch's records, host batching, padding mask and all; its
  compile time, cost and memory analysis are those of the jitted batch function it runs.
  """
  x, y = jnp.asarray(batch), jnp.asarray(labels)
  state = create_train_state(model, jax.random.key(0), x.shape, learning_rate=1e-3)
  train_batch = {'waveforms': x, 'labels': y}
  dropout_rng = jax.random.key(1)

  start = time.perf_counter()
  train = jit_train_step.lower(state, train_batch, dropout_rng, loss_fn=cross_entropy).compile()
  train_compile = time.perf_counter() - start
  # a copy: the training step donates (deletes) the state's buffers
  eval_vars = jax.tree.map(jnp.copy, model_variables(state))
  # predict_probabilities runs a chunk as large as the batch as the whole batch
  chunk = None if infer_chunk is None or infer_chunk >= len(batch) else infer_chunk
  start = time.perf_counter()
  infer = predict._p_tectonic.lower(model, eval_vars, x, None, chunk).compile()
  infer_compile = time.perf_counter() - start
  # counted on the whole batch: a chunked program's cost analysis counts its loop body once
  infer_flops = predict._p_tectonic.lower(model, eval_vars, x, None, None).cost_analysis().get('flops')

  holder = {'state': state}

  def run_train():
    holder['state'], metrics = train(holder['state'], train_batch, dropout_rng)
    metrics['loss'].block_until_ready()

  def run_infer():
    # returns host numpy: the device work is done when it returns
    predict.predict_probabilities(model, eval_vars, batch, batch_size=len(batch), chunk=chunk)

  return {'train': run_train, 'infer': run_infer, 'params': parameter_count(state.params),
          'compile_s': {'train': train_compile, 'infer': infer_compile},
          'xla_flops': {'train': train.cost_analysis().get('flops'), 'infer': infer_flops},
          'memory_analysis': {'train': _memory_analysis(train), 'infer': _memory_analysis(infer)}}


def _memory_analysis(compiled) -> dict | None:
  """Bytes the compiled program's buffers take: arguments, outputs, temporaries (load-independent)."""
  analysis = compiled.memory_analysis()
  if analysis is None:
    return None
  fields = ('argument_size_in_bytes', 'output_size_in_bytes', 'alias_size_in_bytes', 'temp_size_in_bytes',
            'generated_code_size_in_bytes')
  result = {field: int(getattr(analysis, field)) for field in fields if hasattr(analysis, field)}
  # donated state is aliased to the outputs: counted once
  result['peak_estimate_bytes'] = (result.get('argument_size_in_bytes', 0) + result.get('output_size_in_bytes', 0)
                                   - result.get('alias_size_in_bytes', 0) + result.get('temp_size_in_bytes', 0))
  return result


def _torch_steps(batch: np.ndarray, labels: np.ndarray, compiled: bool, infer_chunk: int | None) -> dict:
  """PyTorch train and inference steps of the same network (channels-first input), eager or ``torch.compile``d."""
  import torch  # benchmark-only dependency
  from benchmarks.torch_ganet import TorchGANet

  torch.set_num_threads(os.cpu_count())
  torch.manual_seed(0)
  device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
  # wait for queued GPU work before the clock stops; a no-op on the CPU
  synchronize = torch.cuda.synchronize if device.type == 'cuda' else (lambda: None)
  model = TorchGANet(in_channels=batch.shape[-1]).to(device)
  params = sum(p.numel() for p in model.parameters())
  optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
  loss_fn = torch.nn.CrossEntropyLoss()
  forward = torch.compile(model) if compiled else model
  x = torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 2, 1))).to(device)
  y = torch.from_numpy(labels.astype(np.int64)).to(device)

  def run_train():
    model.train()
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn(forward(x), y)
    loss.backward()
    optimizer.step()
    synchronize()

  def run_infer():
    model.eval()
    with torch.inference_mode():
      for records in (x.split(infer_chunk) if infer_chunk else (x,)):
        forward(records)
    synchronize()

  return {'train': run_train, 'infer': run_infer, 'params': params,
          'version': torch.__version__, 'threads': torch.get_num_threads(), 'device': str(device)}


def _make_batch(batch_size: int, length: int) -> tuple[np.ndarray, np.ndarray]:
  rng = np.random.default_rng(0)
  batch = rng.standard_normal((batch_size, length, 3)).astype(np.float32)
  return batch, rng.integers(0, 2, batch_size).astype(np.int32)


def resolve_infer_chunk(flag: str, length: int) -> int | None:
  """--infer_chunk as records per chunk (None: the whole batch)."""
  return resolve_chunk(parse_chunk(flag), length)


def _contender(name: str, batch: np.ndarray, labels: np.ndarray, remat: bool, infer_chunk: int | None = None) -> dict:
  if name == 'jax':
    return _jax_steps(_model(remat), batch, labels, infer_chunk)
  return _torch_steps(batch, labels, compiled=name == 'torch_compile', infer_chunk=infer_chunk)


def measure_memory(name: str, batch_size: int, length: int, steps: int, remat: bool) -> dict:
  """Peak memory of ``name``'s training step, measured in this process (meant to be a fresh one).

  Returns:
    ``peak_rss_bytes``: the process's peak RSS, setup and compilation included;
    ``step_peak_rss_bytes``: the peak during ``steps`` training steps after a
    warm-up step (None where the kernel cannot reset the count); for JAX also
    the compiled programs' ``memory_analysis``.
  """
  batch, labels = _make_batch(batch_size, length)
  steps_of = _contender(name, batch, labels, remat)
  steps_of['train']()  # warm-up (and, under torch.compile, compilation)
  setup_peak = current_peak_rss_bytes()
  # as the run loop does after an epoch, for every contender alike: the compiler's freed heap back to the OS
  release_free_memory()
  resettable = reset_peak_rss()
  for _ in range(steps):
    steps_of['train']()
  step_peak = current_peak_rss_bytes() if resettable else None
  # VmHWM rather than ru_maxrss: Linux carries ru_maxrss over fork + exec, so a subprocess's
  # ru_maxrss starts at its parent's peak (the benchmark's, 6.9 GB, on first try)
  whole = peak_rss_bytes() if setup_peak is None else max(setup_peak, step_peak or 0)
  result = {'peak_rss_bytes': whole, 'step_peak_rss_bytes': step_peak}
  if 'memory_analysis' in steps_of:
    result['memory_analysis'] = steps_of['memory_analysis']
  return result


def _memory_in_subprocess(name: str, batch_size: int, length: int, steps: int, remat: bool) -> dict:
  command = [sys.executable, '-m', 'benchmarks.throughput', f'--memory_of={name}', f'--batch_size={batch_size}',
             f'--length={length}', f'--steps={steps}', f'--remat={remat}']
  done = subprocess.run(command, capture_output=True, text=True, check=False)
  if done.returncode != 0:
    return {'error': done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f'exit {done.returncode}'}
  return json.loads(done.stdout.strip().splitlines()[-1])


def benchmark(batch_size: int, length: int, repeats: int, steps: int, against: list[str], remat: bool = False,
              memory: bool = True, infer_chunk: int | None = None) -> dict:
  """All throughput figures as a dict (see the module docstring); ``infer_chunk`` None: whole batches."""
  batch, labels = _make_batch(batch_size, length)
  load = MachineLoad().__enter__()
  contenders = {'jax': _contender('jax', batch, labels, remat, infer_chunk)}
  for name in against:
    contenders[name] = _contender(name, batch, labels, remat, infer_chunk)
    if contenders[name]['params'] != contenders['jax']['params']:
      raise AssertionError(f"parameter counts differ: jax {contenders['jax']['params']}, "
                           f"{name} {contenders[name]['params']}")
  matmul_rate = _matmul_flops_per_s()
  seconds = {name: {'train': [], 'infer': []} for name in contenders}
  faults = {name: {'train': [0, 0.0], 'infer': [0, 0.0]} for name in contenders}  # page faults, system seconds
  first_call_s = {name: {} for name in contenders}
  for mode in ('train', 'infer'):
    for name, steps_of in contenders.items():
      first_call_s[name][mode] = _time(steps_of[mode], 1)  # warm-up, excluded (torch.compile compiles here)
    for _ in range(repeats):  # interleaved: background load hits every contender alike
      for name, steps_of in contenders.items():
        before = faults_and_system_seconds()
        seconds[name][mode].append(_time(steps_of[mode], steps))
        after = faults_and_system_seconds()
        faults[name][mode] = [total + a - b for total, a, b in zip(faults[name][mode], after, before)]
      load.sample()
  load.__exit__(None, None, None)
  records = batch_size * steps
  jax_flops = contenders['jax']['xla_flops']
  result = {
      'device': str(jax.devices()[0].device_kind), 'platform': jax.devices()[0].platform,
      'cpu_count': os.cpu_count(), 'machine': platform.processor() or platform.machine(),
      'versions': {'jax': jax.__version__, 'flax': flax.__version__, 'optax': optax.__version__,
                   'numpy': np.__version__, 'python': platform.python_version()},
      'batch_size': batch_size, 'length': length, 'repeats': repeats, 'steps_per_repeat': steps, 'remat': remat,
      'infer_chunk': infer_chunk,
      'matmul_flops_per_s': matmul_rate, 'parameters': contenders['jax']['params'],
      'xla_flops_per_step': jax_flops, 'load': load.report(), 'allocator': allocator_settings(),
      'contenders': list(contenders),
  }
  for name in contenders:
    entry = {mode: _summary(seconds[name][mode], records) for mode in ('train', 'infer')}
    for mode in ('train', 'infer'):
      flops = jax_flops[mode]
      rate = flops / batch_size * entry[mode]['records_per_s_median'] if flops else None
      page_faults, system_s = faults[name][mode]
      entry[mode].update({'achieved_flops_per_s': rate, 'fraction_of_matmul_rate': rate / matmul_rate if rate else None,
                          'first_call_s': first_call_s[name][mode],
                          'page_faults_per_step': page_faults / (repeats * steps),
                          'system_seconds_per_step': system_s / (repeats * steps)})
    if name == 'jax':
      entry['compile_s'] = contenders['jax']['compile_s']
      entry['memory_analysis'] = contenders['jax']['memory_analysis']
    else:
      result['versions']['torch'] = contenders[name]['version']
      entry.update({'threads': contenders[name]['threads'], 'device': contenders[name]['device']})
      if name == 'torch_compile':
        # the first calls compile (Dynamo + Inductor); what they took beyond a steady step
        entry['compile_s'] = {mode: first_call_s[name][mode] - entry[mode]['seconds_per_repeat'][0] / steps
                              for mode in ('train', 'infer')}
      entry['ratio_jax_over_this'] = {
          mode: result['jax'][mode]['records_per_s_median'] / entry[mode]['records_per_s_median']
          for mode in ('train', 'infer')}
      # per-repetition ratios of the interleaved pairs show the noise of the ratio itself
      entry['ratio_per_repeat'] = {
          mode: [t / j for j, t in zip(seconds['jax'][mode], seconds[name][mode])] for mode in ('train', 'infer')}
    result[name] = entry
  if memory:
    # after the timing, one contender at a time: nothing else of ours runs meanwhile
    result['memory'] = {name: _memory_in_subprocess(name, batch_size, length, steps, remat) for name in contenders}
  return result


def _gb(value) -> str:
  return '-' if value is None else f'{value / 1e9:.2f} GB'


def _print(result: dict) -> None:
  print(f"device {result['device']} ({result['platform']}, {result['cpu_count']} cores); batch "
        f"{result['batch_size']} x {result['length']} x 3; {result['parameters']:,} parameters; "
        f"{result['repeats']} repetitions of {result['steps_per_repeat']} steps; remat {result['remat']}; inference in chunks of "
        f"{result['infer_chunk'] or result['batch_size']} records")
  load = result['load']
  share = load['other_processes_cpu_share']
  print(f"load average {load['load_average_before'][0]:.1f} before, {load['load_average_after'][0]:.1f} after "
        f"(max {load['load_average_1min_max_during']:.1f}); other processes used "
        f"{'unknown' if share is None else f'{100 * share:.0f}%'} of all cores: "
        f"{'comparable (quiet machine)' if load['comparable'] else 'NOT COMPARABLE (loaded machine)'}")
  allocator = result['allocator']
  print('C allocator: ' + (' '.join(f'{name}={value}' for name, value in allocator.items()) if allocator
                           else "the C library's defaults (no GLIBC_TUNABLES, LD_PRELOAD or MALLOC_* set)"))
  print(f"float32 matmul rate: {result['matmul_flops_per_s'] / 1e9:.1f} GFLOP/s")
  print(f"JAX compile: train {result['jax']['compile_s']['train']:.1f} s, "
        f"inference {result['jax']['compile_s']['infer']:.1f} s")
  if 'torch_compile' in result:
    compile_s = result['torch_compile']['compile_s']
    print(f"torch.compile first calls beyond a step: train {compile_s['train']:.1f} s, "
          f"inference {compile_s['infer']:.1f} s")
  for mode in ('train', 'infer'):
    for name in result['contenders']:
      r = result[name][mode]
      line = (f"{mode:5s} {name:13s}: {r['records_per_s_median']:8.1f} records/s "
              f"(min {r['records_per_s_min']:.1f}, max {r['records_per_s_max']:.1f})")
      if r['achieved_flops_per_s']:
        line += (f"; {r['achieved_flops_per_s'] / 1e9:.1f} GFLOP/s XLA-counted = "
                 f"{100 * r['fraction_of_matmul_rate']:.0f}% of matmul rate")
      line += (f"; {r['page_faults_per_step']:,.0f} page faults, {r['system_seconds_per_step']:.2f} s "
               f"system time per step")
      if name != 'jax':
        per = result[name]['ratio_per_repeat'][mode]
        line += f"; JAX / this {result[name]['ratio_jax_over_this'][mode]:.2f}x (per repetition {min(per):.2f}-{max(per):.2f})"
      print(line)
  for name, memory in result.get('memory', {}).items():
    if 'error' in memory:
      print(f'memory {name}: failed ({memory["error"]})')
      continue
    line = (f"memory {name:13s}: peak RSS {_gb(memory['peak_rss_bytes'])} (setup and compilation included), "
            f"{_gb(memory['step_peak_rss_bytes'])} during the steps")
    analysis = (memory.get('memory_analysis') or {}).get('train')
    if analysis:
      line += (f"; compiled train step: temporaries {_gb(analysis['temp_size_in_bytes'])}, "
               f"arguments + outputs - aliased {_gb(analysis['peak_estimate_bytes'] - analysis['temp_size_in_bytes'])}")
    print(line)


def main(argv):
  del argv
  if _MEMORY_OF.value:
    print(json.dumps(measure_memory(_MEMORY_OF.value, _BATCH_SIZE.value, _LENGTH.value, _STEPS.value, _REMAT.value)))
    return
  result = benchmark(_BATCH_SIZE.value, _LENGTH.value, _REPEATS.value, _STEPS.value, _AGAINST.value,
                     remat=_REMAT.value, memory=_MEMORY.value,
                     infer_chunk=resolve_infer_chunk(_INFER_CHUNK.value, _LENGTH.value))
  _print(result)
  if _JSON.value:
    with open(_JSON.value, 'w') as f:
      json.dump(result, f, indent=2)


if __name__ == '__main__':
  app.run(main)
