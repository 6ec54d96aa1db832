"""GA-Net fused with band-spectrum features: the features, the model, its training and its export."""

import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import filled_variables
from ganet_jax.models import GANet, GANetFusion, build_model, model_fields, model_parameter_count
from ganet_jax.models.fusion import band_log_powers, bands_below_nyquist
from ganet_jax.training import losses

TINY = dict(num_bottlenecks=1, head_features=32)
SHAPE = (4, 200, 3)  # 2 s at 100 Hz: 0.5-Hz bins, every default band holds some


def _sine(frequency, rate=100.0, samples=400):
  t = np.arange(samples) / rate
  return np.sin(2 * np.pi * frequency * t).astype(np.float32)[None]


def test_a_6_hz_sine_peaks_in_the_4_8_hz_band_and_the_features_are_level_free():
  bands = bands_below_nyquist((1, 2, 4, 8, 12, 18), 100.0)
  features = np.asarray(band_log_powers(_sine(6.0), 100.0, bands))[0]
  assert np.argmax(features) == 2 and features.sum() == pytest.approx(0.0, abs=1e-4)
  assert features[2] - np.sort(features)[-2] > 5  # by orders of magnitude
  np.testing.assert_allclose(band_log_powers(_sine(6.0) * 1e3, 100.0, bands), features[None], atol=1e-3)
  assert np.all(np.isfinite(band_log_powers(np.zeros((1, 400)), 100.0, bands)))


def test_bands_are_clipped_at_nyquist():
  assert bands_below_nyquist((1, 2, 4, 8, 12, 18), 20.0) == ((1, 2), (2, 4), (4, 8), (8, 10))
  assert bands_below_nyquist((1, 2, 4, 8, 12, 18), 30.0)[-1] == (12, 15)
  with pytest.raises(ValueError, match='below the Nyquist'):
    bands_below_nyquist((12, 18), 20.0)
  with pytest.raises(ValueError, match='increasing'):
    bands_below_nyquist((4, 2), 100.0)
  # a 40-Hz window sees its top band, clipped at 20 Hz, including the Nyquist bin
  features = band_log_powers(_sine(20.0, rate=40.0, samples=200), 40.0, bands_below_nyquist((1, 8, 18), 40.0))
  assert int(np.argmax(np.asarray(features)[0])) == 1


def test_shapes_parameters_and_fields_follow_ganet():
  model = build_model('ganet_fusion', **TINY, width=0.25)
  x = jax.ShapeDtypeStruct(SHAPE, jnp.float32)
  variables = jax.eval_shape(model.init, jax.random.key(0), x)
  logits = jax.eval_shape(model.apply, variables, x)
  assert logits.shape == (4, 2)
  ganet = GANet(**TINY, width=0.25)
  head = 8  # head_features 32 at width 0.25: the smallest width GA-Net keeps
  bands, projection = 5, 16
  expected = (model_parameter_count(ganet, SHAPE) - (head * 2 + 2)  # GA-Net without its classifier
              + head * projection + projection + 2 * bands + (projection + bands) * 2 + 2)
  assert model_parameter_count(model, SHAPE) == expected
  # GA-Net's fields, so a config's model entry for GA-Net (e.g. width 0.25) serves it
  ganet_fields = model_fields('ganet')
  fusion_fields = model_fields('ganet_fusion')
  assert {k: fusion_fields[k] for k in ganet_fields} == ganet_fields
  assert fusion_fields['sampling_rate'] == 100.0 and fusion_fields['band_edges'] == (1, 2, 4, 8, 12, 18)
  everything = jax.eval_shape(GANetFusion(**TINY, projection_features=0, band_affine=False).init,
                              jax.random.key(0), x)
  assert 'projection' not in everything['params'] and 'band_scale' not in everything['params']
  with pytest.raises(ValueError, match='projection_features'):
    jax.eval_shape(GANetFusion(**TINY, projection_features=-1).init, jax.random.key(0), x)


def test_gradients_reach_both_parts_and_the_forward_pass_compiles_once():
  model = GANetFusion(**TINY, cbam_positions=())  # attention compiles slowly and is GA-Net's, tested there
  variables = filled_variables(model, jax.ShapeDtypeStruct(SHAPE, jnp.float32))
  x = jnp.asarray(np.random.default_rng(0).standard_normal(SHAPE).astype(np.float32))
  labels = jnp.array([0, 1, 0, 1])

  def loss(params):
    logits, _ = model.apply({**variables, 'params': params}, x, train=True, mutable=['batch_stats'],
                            rngs={'dropout': jax.random.key(1)})
    return jnp.mean(losses.cross_entropy(logits, labels))

  grads = jax.jit(jax.grad(loss))(variables['params'])
  norm = lambda name: sum(np.abs(np.asarray(g)).sum() for g in jax.tree.leaves(grads[name]))
  for name in ('stem_conv', 'bottleneck_0', 'head_conv', 'projection', 'band_scale', 'band_offset', 'classifier'):
    assert norm(name) > 0, name

  @jax.jit
  @chex.assert_max_traces(n=1)
  def logits(variables, x):
    return model.apply(variables, x)

  first = logits(variables, x)
  second = logits(variables, x[::-1])
  assert first.shape == second.shape == (4, 2) and np.all(np.isfinite(first))
  np.testing.assert_allclose(first[::-1], second, atol=1e-5)  # record by record, no mixing across the batch


@pytest.mark.slow
def test_a_fusion_run_is_classified_and_exported_like_ganet(tmp_path):
  from ganet_jax.classify import Classifier, export_pretrained
  from ganet_jax.data import ingest, prepare_settings
  from ganet_jax.data.synthetic import make_synthetic
  from ganet_jax.errors import ConfigError
  from ganet_jax.training import experiment
  from ganet_jax.training.config import ExperimentConfig
  from ganet_jax.data.preprocess import PreprocessConfig
  # the settings of a prepared set of these 3-s windows at 100 Hz, as a run records and a card checks
  options = ingest.PrepareOptions(preprocess=PreprocessConfig(window_s=3.0))
  records = dataclasses.replace(make_synthetic(6, seed=3, samples=300), preprocessing=prepare_settings.settings(options))
  # no attention and no precise BatchNorm: fewer compiles; what is tested is the way through the library
  config = ExperimentConfig(model='ganet_fusion', model_overrides={**TINY, 'cbam_positions': ()}, epochs=1,
                            batch_size=4, learning_rate=1e-3, precise_batch_norm=False)
  with pytest.raises(ConfigError, match=r'^--config.model.sampling_rate: 40 Hz, but the training windows are at 100'):
    experiment.run(dataclasses.replace(config, model_overrides={'sampling_rate': 40.0}), records, records,
                   tmp_path / 'wrong_rate', log=lambda line: None)
  run = tmp_path / 'run'
  experiment.run(config, records, records.subset(np.arange(4)), run, log=lambda line: None)
  exported = export_pretrained(run, tmp_path / 'fusion', components='Z', description='tiny fusion run')
  from_run = Classifier.from_checkpoint(run, components='Z')
  loaded = Classifier.pretrained(str(exported))
  assert isinstance(loaded.members[0].model, GANetFusion) and loaded.members[0].model == from_run.members[0].model
  # the same variables (test_pretrained shows equal variables give equal probabilities), and they classify
  for a, b in zip(jax.tree.leaves(loaded.members[0].variables), jax.tree.leaves(from_run.members[0].variables)):
    np.testing.assert_array_equal(a, b)
  windows = np.random.default_rng(0).normal(size=(3, 300, 3)).astype(np.float32)
  probabilities = loaded.member_probabilities(windows)
  assert probabilities.shape == (1, 3) and np.all((probabilities >= 0) & (probabilities <= 1))
