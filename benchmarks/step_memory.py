r"""What the compiled GA-Net training step holds at its memory peak, by layer and operation.

  python -m benchmarks.step_memory [--batch_size=32] [--num_bottlenecks=5] [--remat] [--top=30]

Compiles (does not run) the library's training step (``jit_train_step``) with
XLA's dump on, reads the live-range report XLA writes for it (the buffers live at
the peak of the buffer assignment, each with the operation that produced it) and
prints ``memory_analysis()``'s temporaries, then the bytes live at the peak summed
per producing operation with the bottleneck index dropped (``ghost1/primary_bn/sub``
covers every bottleneck's). Load-independent, like ``benchmarks.remat_memory``.
"""

from __future__ import annotations

import collections
import glob
import os
import re
import tempfile

_DUMP = tempfile.mkdtemp(prefix='step_memory_')
# before jax reads its flags; only the training step's module is dumped
os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                           f' --xla_dump_to={_DUMP} --xla_dump_hlo_as_text --xla_dump_hlo_module_re=train_step')

from absl import app, flags  # noqa: E402

# --batch_size, --length and --num_bottlenecks are remat_memory's flags
from benchmarks.remat_memory import _BATCH_SIZE, _LENGTH, _NUM_BOTTLENECKS, compiled_train_memory  # noqa: E402
from ganet_jax import GANet  # noqa: E402

_REMAT = flags.DEFINE_bool('remat', False, 'GANet(remat=True).')
_TOP = flags.DEFINE_integer('top', 30, 'Operations to print.')

_ENTRY = re.compile(r'── (.*?) \([\d.]+%, total: ([\d ]+) bytes')
_SCOPES_DROPPED = ('jit(train_step)', 'jvp(GANet)', 'GANet.features')


def peak_breakdown(live_range_report: str) -> tuple[int, collections.Counter]:
  """(peak bytes, bytes per operation) from the stack-trace breakdown of XLA's live-range report."""
  section = live_range_report.split('Stack trace breakdown for peak usage')[1]
  per_operation = collections.Counter()
  for line in section.splitlines()[1:]:
    match = _ENTRY.search(line)
    if match:
      parts = [p for p in match.group(1).split('/') if p not in _SCOPES_DROPPED]
      # bottleneck_3/ghost1/... and cbam_bottleneck_3/... count with their siblings
      key = '/'.join(re.sub(r'^(cbam_)?bottleneck_\d+$', r'\1bottleneck_*', p) for p in parts)
      per_operation[key] += int(match.group(2).replace(' ', ''))
  return sum(per_operation.values()), per_operation


def main(argv):
  del argv
  model = GANet(num_bottlenecks=_NUM_BOTTLENECKS.value, remat=_REMAT.value)
  memory = compiled_train_memory(model, _BATCH_SIZE.value, _LENGTH.value)
  reports = glob.glob(os.path.join(_DUMP, '*train_step*live-range.txt'))
  if not reports:
    raise SystemExit(f'XLA wrote no live-range report under {_DUMP}')
  peak, per_operation = peak_breakdown(open(reports[0]).read())
  print(f"temporaries {memory['temp_size_in_bytes'] / 1e9:.3f} GB; live at the peak {peak / 1e9:.3f} GB "
        f"(XLA dump in {_DUMP})")
  for operation, size in per_operation.most_common(_TOP.value):
    print(f'{size / 1e6:9.1f} MB  {operation}')


if __name__ == '__main__':
  app.run(main)
