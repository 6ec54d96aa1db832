import functools

import jax
import numpy as np
import pytest

from conftest import filled_variables, normal
from ganet_jax import GANet
from ganet_jax.sharding import data_mesh, initialize_distributed, replicate, shard_batch


def test_mesh_sizes_and_bad_request():
  assert data_mesh().devices.size == len(jax.devices()) == 8
  assert data_mesh(4).devices.size == 4
  with pytest.raises(ValueError, match='num_devices=9 but 8 cpu device'):
    data_mesh(9)


def test_uneven_batch_is_refused_with_the_fix():
  with pytest.raises(ValueError, match='multiple of 8'):
    shard_batch(np.zeros((12, 4)), data_mesh(8))


MODEL = GANet(num_bottlenecks=1, head_features=16, dropout_rate=0.0)
X = normal((8, 64, 3)) * np.arange(1, 9, dtype=np.float32)[:, None, None]
APPLY = jax.jit(lambda v, x: MODEL.apply(v, x, train=True, mutable=['batch_stats']))


@functools.lru_cache(maxsize=None)
def _single_device():
  """Variables and the one-device train-mode forward, computed once for every mesh size."""
  variables = filled_variables(MODEL, X)
  return variables, APPLY(variables, X)


@pytest.mark.parametrize('num_devices', [4, 8])
def test_sharded_forward_uses_global_batch_statistics(num_devices):
  variables, (single_logits, single_stats) = _single_device()
  mesh = data_mesh(num_devices)
  sharded_x = shard_batch(X, mesh)
  assert len(sharded_x.sharding.device_set) == num_devices
  logits, stats = APPLY(replicate(variables, mesh), sharded_x)
  np.testing.assert_allclose(logits, single_logits, rtol=1e-4, atol=1e-5)
  # per-device statistics would differ: the records are scaled 1..8
  for got, want in zip(jax.tree.leaves(stats), jax.tree.leaves(single_stats)):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_single_process_needs_no_distributed_setup(monkeypatch):
  for name in ('GANET_COORDINATOR', 'GANET_NUM_PROCESSES', 'GANET_PROCESS_ID'):
    monkeypatch.delenv(name, raising=False)
  assert initialize_distributed() is False
