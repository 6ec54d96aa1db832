"""The docstrings' examples run and print what they show (doctest, as optax's do)."""

import doctest
import importlib
import pathlib

import pytest

import ganet_jax

PACKAGE = pathlib.Path(ganet_jax.__file__).parent
# Modules whose source holds an example; read as text, so modules without one are not imported.
WITH_EXAMPLES = sorted('.'.join(('ganet_jax',) + path.relative_to(PACKAGE).with_suffix('').parts)
                       for path in PACKAGE.rglob('*.py') if '>>>' in path.read_text())
# The public entry points that must carry an example: a deleted one fails here, not silently.
DOCUMENTED = ('ganet_jax.nn.layers.GhostModule', 'ganet_jax.nn.layers.GhostBottleneck', 'ganet_jax.nn.layers.CBAM',
              'ganet_jax.nn.layers.ChannelAttention', 'ganet_jax.nn.layers.SpatialAttention',
              'ganet_jax.nn.layers.Conv', 'ganet_jax.nn.layers.keeping_bound', 'ganet_jax.lazy_loading.lazy_exports',
              'ganet_jax.models.build_model', 'ganet_jax.training.losses.cross_entropy',
              'ganet_jax.training.losses.weighted_cross_entropy', 'ganet_jax.training.losses.focal_loss',
              'ganet_jax.training.losses.balanced_class_weights', 'ganet_jax.evaluation.metrics.confusion',
              'ganet_jax.evaluation.metrics.classification_metrics', 'ganet_jax.evaluation.metrics.roc_curve',
              'ganet_jax.evaluation.metrics.roc_auc', 'ganet_jax.evaluation.metrics.event_probabilities',
              'ganet_jax.evaluation.aggregation.aggregate', 'ganet_jax.evaluation.aggregation.mean_probability',
              'ganet_jax.evaluation.aggregation.mean_logit', 'ganet_jax.evaluation.aggregation.snr_weights',
              'ganet_jax.data.records.RecordSet.unlabeled', 'ganet_jax.data.records.RecordSet.subset',
              'ganet_jax.data.rejections.reason_kinds', 'ganet_jax.data.labels.label_for_event_type')


def _object(dotted: str):
  parts = dotted.split('.')
  for split in range(len(parts), 0, -1):
    try:
      found = importlib.import_module('.'.join(parts[:split]))
    except ModuleNotFoundError:
      continue
    for name in parts[split:]:
      found = getattr(found, name)
    return found
  raise ImportError(dotted)


@pytest.mark.parametrize('name', WITH_EXAMPLES)
def test_examples_print_what_they_show(name):
  module = importlib.import_module(name)
  tests = [test for test in doctest.DocTestFinder().find(module) if test.examples]
  assert tests, f'{name} holds ">>>" but doctest finds no example in it'
  runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
  for test in tests:
    runner.run(test)
  result = runner.summarize(verbose=False)
  assert result.failed == 0, f'{result.failed} of {result.attempted} examples of {name} failed (printed above)'


@pytest.mark.parametrize('name', DOCUMENTED)
def test_public_entry_points_carry_an_example(name):
  docstring = _object(name).__doc__ or ''
  assert 'Examples:' in docstring and '>>>' in docstring, f'{name} has no runnable example'
