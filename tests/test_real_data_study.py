"""The study binary's pieces that need no training: split, physics orientation, summaries, tables."""

import dataclasses
import pathlib

import numpy as np
import pytest

from ganet_jax.studies import real_data as study
from ganet_jax.classify import keep_components
from ganet_jax.data.dataset import Split
from ganet_jax.data.splits import chronological_split
from ganet_jax.data.synthetic import make_synthetic
from ganet_jax.errors import ConfigError
from ganet_jax.evaluation import metrics


@pytest.fixture(scope='module')
def records():
  return make_synthetic(30, seed=2, samples=2000)


def test_every_split_needs_both_classes(records):
  times = np.sort(records.origin_times)
  index = chronological_split(records, [times[len(times) // 3], times[2 * len(times) // 3]],
                              ('train', 'validation', 'test'))
  split = Split(**{name: records.subset(i) for name, i in index.items()})
  study.check_classes(split, 'here')
  tectonic = Split(*(part.subset(np.flatnonzero(part.labels == 0)) for part in split))
  with pytest.raises(ValueError, match='here: the train split has .* both classes'):
    study.check_classes(tectonic, 'here')
  with pytest.raises(ConfigError, match='--config.split.validation_from'):
    study.check_classes(split._replace(validation=None), 'here')


def test_physics_probabilities_are_of_tectonic(records):
  p = study.physics_probabilities(records, {'train': records})['train']
  assert p.shape == (len(records),) and np.all((p >= 0) & (p <= 1))
  # Fitted on these very records: a flipped orientation would put the AUC below 0.5.
  assert metrics.roc_auc(records.labels, p) > 0.5


def test_summary_and_markdown_over_runs():
  runs = [{'sensitivity': s, 'specificity': 0.5, 'balanced_accuracy': 0.6, 'auc': float('nan'), 'n_records': 7,
           'collapsed_to_one_class': s < 0.3,
           'events': {'sensitivity': 1.0, 'specificity': None, 'balanced_accuracy': 1.0, 'auc': 0.9}}
          for s in (0.2, 0.4)]
  summary = study.summarise(runs)
  assert summary['records.sensitivity']['mean'] == pytest.approx(0.3)
  assert summary['records.sensitivity']['std'] == pytest.approx(np.std([0.2, 0.4], ddof=1))  # as the studies'
  assert summary['records.sensitivity']['n'] == 2
  assert summary['records.auc']['n'] == 0 and summary['events.specificity']['mean'] is None
  table = study.markdown({'dataset': 'd', 'split': 's',
                          'results': {'test': {'net': {'runs': runs, 'summary': summary}}},
                          'by_station': [{'station': 'UW.A', 'tectonic': 3, 'non_tectonic': 0, 'accuracy': 1.0,
                                          'auc': None}]})
  assert '| net | 2 | 7 | 0.300 ± 0.141 |' in table and 'n/a' in table and 'sample std (ddof=1)' in table
  assert table.splitlines()[6].endswith('| 1 |')  # one collapsed run
  assert '| UW.A | 3 | 0 | 1.000 | - |' in table


def test_by_station_and_attention_figures(records, tiny_run, tmp_path):
  import dataclasses as dc
  from conftest import TINY_RUN_SAMPLES
  few = dc.replace(records.subset(np.arange(12)), extra={
      'network': np.full(12, 'UW'), 'station': np.array(['A', 'B'] * 6)})
  p = np.linspace(0.05, 0.95, 12)
  rows = study.by_station(few, p)
  assert [r['station'] for r in rows] == ['UW.A', 'UW.B']
  assert sum(r['tectonic'] + r['non_tectonic'] for r in rows) == 12
  short = dc.replace(few, waveforms=np.asarray(few.waveforms)[:, :TINY_RUN_SAMPLES])
  written = study.attention_figures(tiny_run, short, p, tmp_path, per_kind=1)
  assert written and all(pathlib.Path(w).read_bytes()[:4] == b'\x89PNG' for w in written)


def test_keep_components_zero_fills_the_others():
  x = np.ones((2, 5, 3), np.float32)
  kept = keep_components(x, 'Z')
  assert np.all(kept[..., 0] == 1) and np.all(kept[..., 1:] == 0) and np.all(x == 1)
  with pytest.raises(ValueError, match="'ZX'"):
    keep_components(x, 'ZX')


def test_events_by_origin_second_joins_microsecond_differences(records):
  few = records.subset(np.arange(3))
  times = np.array(['2017-02-16T02:00:21.529', '2017-02-16T02:00:21.530', '2017-02-16T02:02:23.889'],
                   'datetime64[ms]')
  grouped = study.events_by_origin_second(dataclasses.replace(few, origin_times=times))
  assert grouped.event_ids[0] == grouped.event_ids[1] != grouped.event_ids[2]
