"""CBAM spatial attention made visible: sown weights, aligned to the record, drawn."""

import subprocess
import sys

import jax
import numpy as np
import pytest

from conftest import filled_variables
from ganet_jax import GANet
from ganet_jax.classify import Classifier
from ganet_jax.evaluation.attention import hold_on_record_axis, record_attention, spatial_attention
from ganet_jax.evaluation.plots import plot_attention

SAMPLES = 200


@pytest.fixture(scope='module')
def tiny():
  model = GANet(num_bottlenecks=2, head_features=16, cbam_positions=('input', 'bottleneck', 'flatten'))
  waveforms = np.random.default_rng(0).normal(size=(2, SAMPLES, 3)).astype(np.float32)
  # NumPy-filled variables of init's structure: compiling a jitted init costs more than these tests
  return model, filled_variables(model, waveforms, seed=1), waveforms


def test_sowing_the_weights_leaves_the_logits_unchanged(tiny):
  model, variables, waveforms = tiny
  plain = jax.jit(model.apply)(variables, waveforms)
  with_weights, state = jax.jit(lambda v, x: model.apply(v, x, mutable=['intermediates']))(variables, waveforms)
  np.testing.assert_array_equal(plain, with_weights)
  assert 'intermediates' not in variables and set(state) == {'intermediates'}


def test_every_stage_has_weights_in_unit_interval_on_its_own_and_the_record_axis(tiny):
  model, variables, waveforms = tiny
  by_stage = spatial_attention(model, variables, waveforms)
  # stem stride 2, both bottlenecks stride 2: 200 -> 100 -> 50 -> 25 steps after the stages
  assert {s: w.shape for s, w in by_stage.items()} == {
      'cbam_input': (2, 200), 'cbam_bottleneck_0': (2, 50), 'cbam_bottleneck_1': (2, 25), 'cbam_flatten': (2, 25)}
  aligned = record_attention(model, variables, waveforms[1])
  assert list(aligned) == list(by_stage)  # network order
  for stage, weights in aligned.items():
    assert weights.shape == (SAMPLES,)
    assert np.all((weights >= 0) & (weights <= 1))
    np.testing.assert_allclose(weights[::SAMPLES // by_stage[stage].shape[1]], by_stage[stage][1], atol=1e-6)


def test_hold_on_record_axis_covers_each_steps_samples():
  np.testing.assert_array_equal(hold_on_record_axis(np.array([0.1, 0.9]), 5), [0.1, 0.1, 0.1, 0.9, 0.9])
  np.testing.assert_array_equal(hold_on_record_axis(np.array([0.2, 0.4, 0.6]), 6), [0.2, 0.2, 0.4, 0.4, 0.6, 0.6])


def test_a_network_without_cbam_has_no_attention():
  model = GANet(num_bottlenecks=1, head_features=16, cbam_positions=())
  x = np.zeros((1, 64, 3), np.float32)
  zeros = jax.tree.map(lambda leaf: np.zeros(leaf.shape, leaf.dtype), jax.eval_shape(model.init, jax.random.key(0), x))
  assert spatial_attention(model, zeros, x) == {}


def test_plot_attention_writes_a_png(tiny, tmp_path):
  model, variables, waveforms = tiny
  window = waveforms[0].copy()
  window[:, 1:] = 0.0  # zero-filled N and E are left out of the drawing
  path = plot_attention(window, record_attention(model, variables, window), tmp_path / 'attention.png',
                        title='record X: tectonic, p = 0.93')
  assert path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
  with pytest.raises(ValueError, match='align them'):
    plot_attention(window, {'cbam_flatten': np.zeros(25)}, tmp_path / 'bad.png')


def test_importing_the_plots_neither_loads_pyplot_nor_sets_a_backend():
  # rcParams read raw: get_backend() would itself resolve the backend through pyplot
  backend = 'dict.__getitem__(matplotlib.rcParams, "backend")'
  code = (f'import sys, matplotlib; before = {backend}; import ganet_jax.evaluation.plots; '
          f'assert "matplotlib.pyplot" not in sys.modules; assert {backend} == before')
  subprocess.run([sys.executable, '-c', code], check=True)


def test_classifier_attention_of_a_run_folders_record(tiny_run):
  classifier = Classifier.from_checkpoint(tiny_run, components='Z')
  samples = classifier.options.preprocess.window_samples
  window = np.random.default_rng(1).normal(size=(samples, 3)).astype(np.float32)
  weights = classifier.attention(window)
  assert weights and all(w.shape == (samples,) and w.min() >= 0 and w.max() <= 1 for w in weights.values())
  # The classifier's components apply: N and E are zero-filled before the network sees the record.
  zeroed = window.copy()
  zeroed[:, 1:] = 0
  for stage, w in classifier.attention(zeroed).items():
    np.testing.assert_array_equal(w, weights[stage])
