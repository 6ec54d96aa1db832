"""The runnable examples of examples/ at small shapes: each trains, counts or classifies what it says."""

import numpy as np
import obspy
import pytest

from examples import classify_table, complexity, library_train_step, own_linen_model
from ganet_jax.models.complexity import model_complexity, parameter_count

SMALL = ['--steps', '30', '--samples', '128']


@pytest.fixture(scope='module')
def own_run():
  return own_linen_model.main(SMALL)


def test_own_linen_model_learns_the_toy_task(own_run):
  losses = own_run['losses']
  assert len(losses) == 30 and np.all(np.isfinite(losses))
  assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.1
  # evaluated with train=False: running BatchNorm statistics, no dropout, on records it never saw
  assert own_run['test_accuracy'] >= 0.8


@pytest.mark.slow  # trains a second model
def test_library_step_trains_the_same_model_as_the_hand_written_step(own_run):
  result = library_train_step.main(SMALL)
  assert int(result['state'].step) == 30
  # Same initialisation, optimizer, loss and dropout keys: the two steps are the same arithmetic.
  np.testing.assert_allclose(result['losses'], own_run['losses'], rtol=1e-3, atol=1e-4)
  assert result['test_accuracy'] >= 0.8


def test_complexity_counts_parameters_and_macs(own_run):
  table = complexity.main(['--samples', '256'])
  assert table['GANet()']['parameters'] == 1_575_317  # Table 1's 1.57M
  assert table['GANet(width=0.25)']['parameters'] == 107_435
  own = table['GhostClassifier']
  assert own['parameters'] == parameter_count(own_run['variables']['params'])
  for row in table.values():
    assert row['xla_flops'] >= 2 * row['macs'] > 0
  # convolutions dominate, so twice the samples is about twice the MACs
  longer = model_complexity(own_linen_model.GhostClassifier(), (1, 512, 3))
  assert 1.9 < longer['macs'] / own['macs'] <= 2.0
  assert longer['parameters'] == own['parameters']


def test_classify_table_classifies_a_minimal_table_and_lists_refusals(shared_data):
  result = classify_table.main(['--data', str(shared_data / 'pnw')])
  assert len(result['records']) == 5
  assert {event for _, event, _, _ in result['records']} == {'uw61506451', 'uw61377746'}
  for _, _, p, label in result['records']:
    assert 0.0 <= p <= 1.0 and label == ('tectonic' if p >= 0.5 else 'non-tectonic')
  classifier = classify_table.Classifier.pretrained('pnw')
  for event, p in result['events'].items():  # the card's event rule over the event's records
    _, expected = classifier.event_probabilities(*zip(*[(e, q) for _, e, q, _ in result['records'] if e == event]))
    assert p == pytest.approx(expected[0])
  # the two 1 Hz long-period files are refused, each with its reason
  assert len(result['unclassified']) == 2
  assert all('LHZ' in file and 'sampling rate 1 Hz' in reason for file, reason in result['unclassified'])
  # One record classified from an ObsPy Stream gives the table's probability.
  record_id, _, p_table, _ = next(row for row in result['records'] if '.HBO.' in row[0])
  stream = obspy.read(str(shared_data / 'pnw' / 'waveforms' / 'uw61377746_UW.HBO.EHZ.mseed'))
  origin = obspy.UTCDateTime('2018-04-06T18:39:45.520000Z')
  assert classifier.classify_stream(stream, origin_time=origin) == pytest.approx(p_table, abs=1e-6)
