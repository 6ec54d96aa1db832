r"""Parameters, multiply-accumulates and XLA FLOPs of your own model and of GA-Net, without running either.

  python -m examples.complexity
  python -m examples.complexity --samples=10000

``model_complexity`` traces one inference forward pass (nothing is allocated or
compiled): MACs are read from the traced program, FLOPs from XLA's cost analysis,
which counts 2 per multiply-accumulate plus elementwise work. Pass the input
shape your model will see: convolutions' MACs grow with the record's length.
"""

from __future__ import annotations

import argparse
from typing import Sequence

from examples.own_linen_model import GhostClassifier
from ganet_jax import GANet
from ganet_jax.models.complexity import model_complexity


def complexities(samples: int = 1000, features: int = 16) -> dict[str, dict[str, int]]:
  """{model name: {'parameters', 'macs', 'xla_flops'}} for one record of ``samples`` x 3."""
  models = {'GhostClassifier': GhostClassifier(features=features), 'GANet()': GANet(),
            'GANet(width=0.25)': GANet(width=0.25)}
  return {name: model_complexity(model, (1, samples, 3)) for name, model in models.items()}


def main(argv: Sequence[str] | None = None) -> dict[str, dict[str, int]]:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--samples', type=int, default=1000, help='samples of the one record counted')
  args = parser.parse_args(argv)
  table = complexities(args.samples)
  print(f'one record of {args.samples} x 3')
  print(f'{"model":<20}{"parameters":>12}{"MACs":>16}{"XLA FLOPs":>16}')
  for name, row in table.items():
    print(f'{name:<20}{row["parameters"]:>12,}{row["macs"]:>16,}{row["xla_flops"]:>16,}')
  return table


if __name__ == '__main__':
  main()
