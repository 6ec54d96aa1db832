import numpy as np
import pytest

from ganet_jax.data.imbalance import strategy1_sets, strategy2_counts, strategy2_sets

POOL = np.array([0] * 2500 + [1] * 400)


def test_strategy1_matches_the_paper_and_is_nested():
  sets = strategy1_sets(POOL, [1, 2, 5, 10], seed=0)
  counts = {r: (int(np.sum(POOL[s] == 0)), int(np.sum(POOL[s] == 1))) for r, s in sets.items()}
  assert counts == {1: (200, 200), 2: (400, 200), 5: (1000, 200), 10: (2000, 200)}
  for smaller, larger in [(1, 2), (2, 5), (5, 10)]:
    assert set(sets[smaller]) <= set(sets[larger])
  assert not np.array_equal(sets[1], strategy1_sets(POOL, [1, 2, 5, 10], seed=1)[1])


def test_strategy2_matches_the_paper():
  assert [strategy2_counts(r, 400) for r in (1, 2, 5, 10)] == [(200, 200), (267, 133), (333, 67), (364, 36)]
  sets = strategy2_sets(POOL, [1, 2, 5, 10], seed=0)
  for ratio, indices in sets.items():
    assert len(indices) == len(set(indices)) == 400
    assert int(np.sum(POOL[indices] == 1)) == strategy2_counts(ratio, 400)[1]


def test_shortfall_is_named():
  with pytest.raises(ValueError, match='2000 tectonic records but the pool has 1000'):
    strategy1_sets(np.array([0] * 1000 + [1] * 300), [1, 10], seed=0)
  with pytest.raises(ValueError, match='200 non-tectonic records but the pool has 50'):
    strategy2_sets(np.array([0] * 1000 + [1] * 50), [1], seed=0)
  with pytest.raises(ValueError, match='must increase'):
    strategy1_sets(POOL, [5, 1], seed=0)
