"""Inference in chunks of a batch: the same probabilities as the whole batch at once."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks.throughput import resolve_infer_chunk
from ganet_jax import GANet
from ganet_jax.evaluation.predict import (CPU_CHUNK_SAMPLES, apply_in_chunks, inference_chunk, parse_chunk,
                                          predict_ensemble, predict_probabilities, stack_variables)

SAMPLES = 96


@pytest.fixture(scope='module')
def net():
  model = GANet(num_bottlenecks=1, head_features=16)
  init = jax.jit(model.init)
  members = [init(jax.random.key(seed), jnp.zeros((1, SAMPLES, 3))) for seed in range(2)]
  return model, members


def _waveforms(count):
  return np.random.default_rng(0).normal(size=(count, SAMPLES, 3)).astype(np.float32)


def test_chunks_of_any_size_give_the_whole_batch_output():
  def per_record(x):  # each record's output depends on that record only
    return {'sum': x.sum(axis=(1, 2)), 'scaled': 2 * x[:, :3]}
  x = jnp.asarray(_waveforms(7))
  whole = per_record(x)
  for chunk in (1, 2, 3, 7, 50, None):
    chunked = apply_in_chunks(per_record, x, chunk)
    assert chunked['scaled'].shape == (7, 3, 3)
    np.testing.assert_allclose(chunked['sum'], whole['sum'], rtol=1e-6)
    np.testing.assert_array_equal(chunked['scaled'], whole['scaled'])


def test_chunks_run_one_after_another_not_the_whole_batch():
  shapes = []

  def per_record(x):
    shapes.append(x.shape)
    return x[:, 0, 0]
  apply_in_chunks(per_record, jnp.zeros((10, 4, 3)), 4)  # padded to 12: 3 chunks of 4
  assert shapes == [(4, 4, 3)]


def test_network_probabilities_do_not_depend_on_the_chunk(net):
  model, (variables, _) = net
  waveforms = _waveforms(11)
  whole = predict_probabilities(model, variables, waveforms, batch_size=8, chunk=None)
  for chunk in (3, 'auto'):  # 3 pads the last chunk of 8; 'auto' is the whole batch at this length
    np.testing.assert_allclose(predict_probabilities(model, variables, waveforms, batch_size=8, chunk=chunk),
                               whole, atol=1e-5)
  assert np.ptp(whole) > 1e-3  # the records' probabilities differ: a mix-up of records would show


@pytest.mark.parametrize('chunk', [3, None])  # members in turn, chunk by chunk; members side by side (vmap)
def test_ensemble_matches_its_members_taken_whole(net, chunk):
  model, members = net
  waveforms = _waveforms(9)
  per_member, _ = predict_ensemble(model, stack_variables(members), waveforms, batch_size=4, chunk=chunk)
  for i, variables in enumerate(members):
    np.testing.assert_allclose(per_member[i], predict_probabilities(model, variables, waveforms, batch_size=4,
                                                                    chunk=None), atol=1e-5)
  assert np.ptp(per_member[0] - per_member[1]) > 1e-4  # the members differ: a mix-up of members would show


def test_chunk_is_a_few_records_on_cpu_and_the_whole_batch_elsewhere():
  assert inference_chunk(10_000, 'cpu') == CPU_CHUNK_SAMPLES // 10_000 == 2
  assert inference_chunk(10 * CPU_CHUNK_SAMPLES, 'cpu') == 1  # never zero records
  assert inference_chunk(10_000, 'gpu') is None
  assert resolve_infer_chunk('none', 10_000) is None and resolve_infer_chunk('3', 10_000) == 3
  assert resolve_infer_chunk('auto', 10_000) == inference_chunk(10_000)


def test_a_command_lines_chunk_is_read_or_refused():
  assert parse_chunk('auto') == 'auto' and parse_chunk('none') is None and parse_chunk('3') == 3
  for text in ('0', '-2', 'two', ''):
    with pytest.raises(ValueError, match='chunk'):
      parse_chunk(text)


@pytest.mark.parametrize('chunk', [0, -2, 'some'])
def test_a_bad_chunk_is_refused(net, chunk):
  model, (variables, _) = net
  with pytest.raises(ValueError, match='chunk'):
    predict_probabilities(model, variables, _waveforms(2), chunk=chunk)
