"""Training sets of controlled class imbalance (paper Section IV-E, Fig. 7).

Strategy 1 ("increasing dataset"): a balanced base of ``base`` tectonic and
``base`` non-tectonic records drawn at random; each higher ratio adds randomly
drawn tectonic records to the previous set, so every set contains the one
before it (1:1 200/200, 2:1 400/200, 5:1 1000/200, 10:1 2000/200).

Strategy 2 ("constant dataset"): ``total`` records split by the ratio, rounded
to the nearest record (1:1 200/200, 2:1 267/133, 5:1 333/67, 10:1 364/36; the
paper's 10:1 set has 36 non-tectonic records).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ganet_jax.conventions import NON_TECTONIC, TECTONIC


def strategy2_counts(ratio: float, total: int) -> tuple[int, int]:
  """(tectonic, non-tectonic) counts of ``total`` records at ``ratio``:1."""
  tectonic = int(np.floor(total * ratio / (ratio + 1) + 0.5))
  return tectonic, total - tectonic


def _check_available(labels: np.ndarray, tectonic: int, non_tectonic: int, what: str) -> None:
  have = int(np.sum(labels == TECTONIC)), int(np.sum(labels == NON_TECTONIC))
  short = [f'{need} {name} records but the pool has {got}'
           for need, got, name in ((tectonic, have[0], 'tectonic'), (non_tectonic, have[1], 'non-tectonic'))
           if need > got]
  if short:
    raise ValueError(f'{what} needs ' + ' and '.join(short))


def strategy1_sets(labels: np.ndarray, ratios: Sequence[float], *, base: int = 200,
                   seed: int) -> dict[float, np.ndarray]:
  """Nested training sets for strategy 1.

  Args:
    labels: labels of the pool to draw from (the training split).
    ratios: tectonic:non-tectonic ratios, increasing (e.g. 1, 2, 5, 10).
    base: records of each class in the balanced 1:1 set.
    seed: seed of the draws.

  Returns:
    {ratio: pool indices}, each set a superset of the previous ratio's.

  Raises:
    ValueError: naming the shortfall when the pool has too few records of a class.
  """
  ratios = list(ratios)
  if ratios != sorted(ratios):
    raise ValueError(f'strategy 1 ratios must increase, got {ratios}')
  _check_available(labels, int(round(base * ratios[-1])), base, f'strategy 1 at {ratios[-1]}:1')
  rng = np.random.default_rng(seed)
  # one permutation per class: a prefix of it is each set, which makes the sets nested
  tectonic = rng.permutation(np.flatnonzero(labels == TECTONIC))
  non_tectonic = rng.permutation(np.flatnonzero(labels == NON_TECTONIC))[:base]
  return {ratio: np.sort(np.concatenate([tectonic[:int(round(base * ratio))], non_tectonic]))
          for ratio in ratios}


def strategy2_sets(labels: np.ndarray, ratios: Sequence[float], *, total: int = 400,
                   seed: int) -> dict[float, np.ndarray]:
  """Training sets of ``total`` records each for strategy 2, drawn independently per ratio.

  Raises:
    ValueError: naming the shortfall when the pool has too few records of a class.
  """
  rng = np.random.default_rng(seed)
  sets = {}
  for ratio in ratios:
    n_tectonic, n_non = strategy2_counts(ratio, total)
    _check_available(labels, n_tectonic, n_non, f'strategy 2 at {ratio}:1')
    sets[ratio] = np.sort(np.concatenate([
        rng.choice(np.flatnonzero(labels == TECTONIC), n_tectonic, replace=False),
        rng.choice(np.flatnonzero(labels == NON_TECTONIC), n_non, replace=False)]))
  return sets
