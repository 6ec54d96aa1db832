r"""Parameters, multiply-accumulates and XLA FLOPs of every model, beside Table 1.

  python -m benchmarks.params_flops [--json=PATH]

For one 10000 x 3 record (batch 1, inference mode). "MACs" counts the
multiply-accumulates of convolutions and matrix products
(``ganet_jax.models.complexity.jaxpr_macs``; what thop / ptflops-style tables call
FLOPs); "XLA FLOPs" is XLA's cost analysis of the lowered program, 2 per MAC
plus elementwise work. Nothing is compiled or run, so this takes seconds.
"""

from __future__ import annotations

import json

from absl import app, flags

from ganet_jax.conventions import WINDOW_SAMPLES
from ganet_jax.models import MODELS, TABLE1_PARAMETERS, build_model
from ganet_jax.models.complexity import model_complexity

_JSON = flags.DEFINE_string('json', None, 'Write the table to this JSON file.')

NOTES = {'vgg': 'Table 1 prints 11.37K, likely a typo for 11.37M; the printed figure is matched'}


def table(input_shape: tuple[int, int, int] = (1, WINDOW_SAMPLES, 3)) -> list[dict]:
  """One row per registered model: counts, Table 1's figure and the relative difference."""
  rows = []
  for name in MODELS:
    row = {'model': name, **model_complexity(build_model(name), input_shape)}
    reference = TABLE1_PARAMETERS.get(name)
    row['table1_parameters'] = reference
    row['parameters_vs_table1'] = (row['parameters'] - reference) / reference if reference else None
    if name in NOTES:
      row['note'] = NOTES[name]
    rows.append(row)
  return rows


def _human(count: float) -> str:
  return f'{count / 1e6:.2f}M' if count >= 1e6 else f'{count / 1e3:.2f}K'


def _format(rows: list[dict]) -> str:
  header = (f"{'model':22s} {'params':>11s} {'Table 1':>9s} {'diff':>7s} {'MACs':>10s} {'XLA FLOPs':>10s}")
  lines = ['one 10000 x 3 record; MACs = multiply-accumulates of conv/dense layers; '
           'XLA FLOPs = cost analysis (2 x MAC + elementwise)', header]
  for row in rows:
    reference = f"{_human(row['table1_parameters']) if row['table1_parameters'] else '-':>9s}"
    diff = f"{100 * row['parameters_vs_table1']:+6.1f}%" if row['table1_parameters'] else f"{'':>7s}"
    lines.append(f"{row['model']:22s} {row['parameters']:11,d} {reference} {diff} "
                 f"{row['macs'] / 1e9:9.3f}G {row['xla_flops'] / 1e9:9.3f}G" + (' *' if 'note' in row else ''))
  lines += [f"* {row['model']}: {row['note']}" for row in rows if 'note' in row]
  return '\n'.join(lines)


def main(argv):
  del argv
  rows = table()
  print(_format(rows))
  if _JSON.value:
    with open(_JSON.value, 'w') as f:
      json.dump({'input_shape': [1, WINDOW_SAMPLES, 3], 'models': rows}, f, indent=2)


if __name__ == '__main__':
  app.run(main)
