"""The study machinery and every study binary in small mode (subprocesses sharing one XLA cache).

The binaries run as ``python -m experiments.<name> --small``, which also tests their
flag and config parsing; they share a persistent compilation cache so the tiny GA-Net compiles
once for all of them. Sweeps are cut to a few rows (--placements, --bottlenecks,
--models, --ratios) to keep the number of distinct compiled models low.
"""

import json
import os
import pathlib
import subprocess
import sys

import ml_collections
import numpy as np
import pytest

from ganet_jax.data import imbalance
from ganet_jax.data.dataset import dataset_identity
from ganet_jax.data.records import save_prepared
from ganet_jax.data.synthetic import make_synthetic
from ganet_jax.studies import report as study_report, run as study
from ganet_jax.training.config import ExperimentConfig

ROOT = pathlib.Path(__file__).resolve().parents[1]
PROVENANCE = ('config', 'flags', 'dataset', 'seeds', 'command', 'library_version', 'jax_version', 'device_kind', 'platform',
              'started_utc', 'wall_seconds')


@pytest.fixture(scope='module')
def cache(tmp_path_factory):
  return tmp_path_factory.mktemp('xla_cache')


def _binary(name, workdir, cache, *flags, check=True):
  """Runs ``python -m experiments.<name> --small``; returns the completed process.

  A finished study prints the list of what it wrote: every file, figure included, and each run folder.
  """
  env = {**os.environ, 'JAX_PLATFORMS': 'cpu', 'PYTHONPATH': str(ROOT)}
  process = subprocess.run([sys.executable, '-m', f'experiments.{name}', '--small', f'--config.workdir={workdir}',
                            f'--compilation_cache={cache}', *flags], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=600)
  if check:
    assert process.returncode == 0, process.stderr[-3000:]
    listed = process.stdout.split('wrote:\n')[1].splitlines()
    results = _results(workdir)
    runs = [f'  {workdir / run["run_dir"]}/  (run folder)' for c in results['configurations'].values()
            for run in c['seeds'].values()]
    files = [f'  {workdir / name}' for name in (study.RESULTS_FILE, study.TABLE_FILE, study.FIGURE_FILE)
             if (workdir / name).exists()]
    assert listed == files + runs
    # small mode's numbers are stamped, not titled as the paper's
    assert (workdir / study.TABLE_FILE).read_text().startswith(
        "# SMOKE RUN (synthetic data, 1 epoch): not the paper's figures\n\n(laid out as: ")
  return process


def _results(workdir):
  return json.loads((workdir / study.RESULTS_FILE).read_text())


def _table_rows(workdir):
  """The first cell of each data row of table.md."""
  lines = (workdir / study.TABLE_FILE).read_text().splitlines()
  return [line.split('|')[1].strip() for line in lines if line.startswith('| ') and not line.startswith('| |')]


def _check_common(results, workdir, labels, *, seeds=(0,), figure=False):
  assert set(PROVENANCE) <= set(results['provenance'])
  assert results['provenance']['seeds'] == list(seeds)
  assert results['provenance']['flags']['small'] is True
  assert results['provenance']['config']['epochs'] == 1  # small mode's
  assert results['provenance']['dataset']['path'].startswith('synthetic:')
  assert [c['label'] for c in results['configurations'].values()] == labels == _table_rows(workdir)
  for entry in results['configurations'].values():
    assert sorted(entry['seeds']) == sorted(map(str, seeds))
    for metric in study.METRICS:
      summary = entry['aggregate'][metric]
      values = [run[metric] for run in entry['seeds'].values() if run[metric] is not None]
      assert summary['n'] == len(values)
      if values:
        assert summary['min'] <= summary['mean'] <= summary['max']
        assert summary['mean'] == pytest.approx(np.mean(values))
  # every run evaluated the same test records
  assert len({run['test_fingerprint'] for c in results['configurations'].values() for run in c['seeds'].values()}) == 1
  assert (workdir / study.FIGURE_FILE).exists() == figure
  if figure:
    assert (workdir / study.FIGURE_FILE).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


# ---- machinery without training


def _fake_results(values_per_row, seeds):
  configurations = {}
  for name, values in values_per_row.items():
    runs = {str(s): {'sensitivity': v, 'specificity': None, 'accuracy': v, 'auc': v, 'misclassified': round(10 * v)}
            for s, v in zip(seeds, values)}
    configurations[name] = {'label': name.upper(), 'details': {'Parameters': '1K'}, 'aggregate': study.aggregate(runs.values())}
  return {'study': 'fake', 'title': 'Table X', 'configurations': configurations, 'test': {
      'records': 10, 'tectonic': 6, 'non_tectonic': 4}, 'provenance': {'seeds': seeds, 'dataset': {'path': 'synthetic:x'}}}


def test_aggregate_mean_sample_std_min_max_skips_undefined():
  summary = study.aggregate([{'sensitivity': 0.5, 'specificity': None, 'accuracy': 1.0, 'auc': 0.2, 'misclassified': 3},
                             {'sensitivity': 0.7, 'specificity': None, 'accuracy': 1.0, 'auc': None, 'misclassified': 5}])
  assert summary['sensitivity'] == pytest.approx({'mean': 0.6, 'std': np.std([0.5, 0.7], ddof=1), 'min': 0.5,
                                                  'max': 0.7, 'n': 2})
  assert summary['specificity'] == {'mean': None, 'std': None, 'min': None, 'max': None, 'n': 0}
  assert summary['auc'] == {'mean': 0.2, 'std': 0.0, 'min': 0.2, 'max': 0.2, 'n': 1}
  assert summary['misclassified']['mean'] == 4


def test_markdown_table_and_plot(tmp_path):
  results = _fake_results({'a': [0.9, 0.8], 'b': [0.95, 0.97]}, [0, 1])
  text = study_report.markdown_table(results, ['Parameters', 'sensitivity', 'specificity', 'misclassified'])
  lines = text.splitlines()
  assert lines[0] == '# Table X'
  assert lines[2] == '| | Parameters | Sensitivity | Specificity | Misclassified records |'
  assert lines[4] == '| A | 1K | 85.00 ± 7.07% | - | 8.5 ± 0.7 |'
  assert lines[5].startswith('| B | 1K | 96.00 ± 1.41% |')
  assert 'over 2 seeds (0, 1)' in text and '10 records (6 tectonic, 4 non-tectonic)' in text
  one_seed = study_report.markdown_table(_fake_results({'a': [0.9]}, [3]), ['accuracy', 'misclassified'])
  assert '| A | 90.00% | 9 |' in one_seed and 'One seed (3)' in one_seed
  path = study_report.plot_study(results, ['sensitivity', 'accuracy'], tmp_path / 'f.png', x_label='x', title='t')
  assert path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_a_smoke_run_is_stamped_instead_of_titled_as_the_paper(tmp_path, monkeypatch):
  results = {**_fake_results({'a': [0.9]}, [0]), 'smoke_run': study_report.smoke_note('synthetic data, 1 epoch')}
  lines = study_report.markdown_table(results, ['accuracy']).splitlines()
  assert lines[:3] == ["# SMOKE RUN (synthetic data, 1 epoch): not the paper's figures", '',
                       '(laid out as: Table X)']
  assert lines[6] == '| A | 90.00% |'
  titles = []
  from matplotlib.axes import Axes
  original = Axes.set_title
  monkeypatch.setattr(Axes, 'set_title', lambda self, label, **kw: titles.append(label) or original(self, label, **kw))
  study_report.plot_study(results, ['accuracy'], tmp_path / 'f.png', x_label='x', title='Fig. 5. t')
  assert titles == ["SMOKE RUN (synthetic data, 1 epoch): not the paper's figures\n(laid out as: Fig. 5. t)"]


def test_dataset_identity_hashes_the_manifest(tmp_path):
  config = ml_collections.ConfigDict({'dataset': 'synthetic', 'synthetic': {'seed': 3, 'num_events': 5}})
  assert dataset_identity(config) == {'path': 'synthetic:num_events=5,seed=3'}
  records = make_synthetic(3, seed=0, samples=32)
  save_prepared(tmp_path / 'a', records, [])
  save_prepared(tmp_path / 'b', records.subset([0, 1]), [])
  a, b = (dataset_identity(ml_collections.ConfigDict({'dataset': str(tmp_path / name)})) for name in 'ab')
  assert a['path'] == str((tmp_path / 'a').resolve()) and len(a['manifest_sha256']) == 64
  assert a['manifest_sha256'] != b['manifest_sha256']


def test_run_study_refuses_bad_columns_and_repeated_names(tmp_path):
  config = ExperimentConfig()
  records = make_synthetic(2, seed=0, samples=32)
  rows = [study.Configuration('a', 'A', config, records), study.Configuration('a', 'B', config, records)]
  with pytest.raises(ValueError, match='repeat'):
    study.run_study('s', rows, records, seeds=[0], workdir=tmp_path, provenance={}, columns=['accuracy'])
  with pytest.raises(ValueError, match="column 'Parameters'"):
    study.run_study('s', rows[:1], records, seeds=[0], workdir=tmp_path, provenance={}, columns=['Parameters'])


# ---- the binaries, small mode


@pytest.mark.slow  # six trainings (3 ratios x 2 seeds)
def test_imbalance_strategy1_nested_sets_same_test_split(tmp_path, cache):
  _binary('imbalance', tmp_path, cache, '--strategy=1', '--ratios=1,2,5', '--config.seeds=0,1')
  results = _results(tmp_path)
  _check_common(results, tmp_path, ['1:1', '2:1', '5:1'], seeds=(0, 1), figure=True)
  assert results['provenance']['flags']['strategy'] == '1' and results['provenance']['flags']['base'] == 4
  configurations = results['configurations']
  for ratio in (1, 2, 5):
    for run in configurations[f'ratio_{ratio}']['seeds'].values():
      assert (run['train']['tectonic'], run['train']['non_tectonic']) == (4 * ratio, 4)
  for seed in ('0', '1'):
    sets = [set((tmp_path / f'ratio_{r}' / f'seed_{seed}' / study.TRAIN_IDS_FILE).read_text().split())
            for r in (1, 2, 5)]
    assert sets[0] < sets[1] < sets[2]
  # seeds draw different sets
  assert configurations['ratio_1']['seeds']['0']['train']['fingerprint'] != \
      configurations['ratio_1']['seeds']['1']['train']['fingerprint']
  assert '| 2:1 | 8/4 |' in (tmp_path / study.TABLE_FILE).read_text()
  assert any(cache.iterdir())  # the compiled programs went to --compilation_cache


@pytest.mark.slow  # trains every ratio
def test_imbalance_strategy2_counts_follow_the_construction(tmp_path, cache):
  _binary('imbalance', tmp_path, cache, '--strategy=2')
  results = _results(tmp_path)
  _check_common(results, tmp_path, ['1:1', '2:1', '5:1', '10:1'], figure=True)
  counts = {name: (c['seeds']['0']['train']['tectonic'], c['seeds']['0']['train']['non_tectonic'])
            for name, c in results['configurations'].items()}
  assert counts == {f'ratio_{r}': imbalance.strategy2_counts(r, 22) for r in (1, 2, 5, 10)}
  # at full scale the same function gives the paper's sets
  assert [imbalance.strategy2_counts(r, 400) for r in (1, 2, 5, 10)] == [(200, 200), (267, 133), (333, 67), (364, 36)]


def test_imbalance_shortfall_names_it(tmp_path, cache):
  process = _binary('imbalance', tmp_path, cache, '--strategy=1', '--base=500', check=False)
  assert process.returncode != 0
  assert 'strategy 1 at 10.0:1 needs 5000 tectonic records but the pool has' in process.stderr
  assert '--base=500' in process.stderr and not (tmp_path / study.RESULTS_FILE).exists()


@pytest.mark.slow  # three networks, each compiled
def test_ablation_table(tmp_path, cache):
  _binary('ablation', tmp_path, cache)
  _check_common(_results(tmp_path), tmp_path, ['GA-Net (w/o GM)', 'GA-Net (w/o CBAM)', 'GA-Net (ours)'])
  config = _results(tmp_path)['configurations']['ganet']['config']
  assert config['model_overrides'] == {'num_bottlenecks': 1, 'head_features': 16} and config['epochs'] == 1


@pytest.mark.slow  # a binary run, each placement compiled
def test_cbam_placement_table(tmp_path, cache):
  _binary('cbam_placement', tmp_path, cache, '--placements=input,g-bneck+flatten')
  results = _results(tmp_path)
  _check_common(results, tmp_path, ['After input (Input)', 'G-bneck+Flatten (ours)'])
  assert results['configurations']['input']['config']['model_overrides']['cbam_positions'] == ['input']
  header = next(line for line in (tmp_path / study.TABLE_FILE).read_text().splitlines() if line.startswith('|'))
  assert header == '| | Misclassified records | Accuracy |'
  run = results['configurations']['input']['seeds']['0']
  assert run['misclassified'] == run['confusion']['fn'] + run['confusion']['fp']


def test_cbam_placement_knows_all_seven(tmp_path, cache):
  process = _binary('cbam_placement', tmp_path, cache, '--placements=nowhere', check=False)
  assert process.returncode != 0
  assert ('known: input, g-bneck, flatten, input+g-bneck, input+flatten, g-bneck+flatten, input+g-bneck+flatten'
          in process.stderr)


@pytest.mark.slow  # a binary run, each depth compiled
def test_bottlenecks_figure(tmp_path, cache):
  _binary('bottlenecks', tmp_path, cache, '--bottlenecks=1,2')
  results = _results(tmp_path)
  _check_common(results, tmp_path, ['1', '2'], figure=True)
  parameters = [int(c['details']['Parameters'].replace(',', '')) for c in results['configurations'].values()]
  assert parameters[0] < parameters[1]


@pytest.mark.slow  # four trainings
def test_imbalance_techniques_table(tmp_path, cache):
  _binary('imbalance_techniques', tmp_path, cache)
  results = _results(tmp_path)
  _check_common(results, tmp_path, ['Time shifting', 'Noise addition', 'Focal loss', 'GA-Net (ours)'])
  runs = {name: c['seeds']['0'] for name, c in results['configurations'].items()}
  plain = runs['plain']['train']
  # oversampling balances the training split only
  for name in ('time_shifting', 'noise_addition'):
    assert runs[name]['train']['tectonic'] == runs[name]['train']['non_tectonic'] == max(
        plain['tectonic'], plain['non_tectonic'])
  assert runs['focal_loss']['train'] == plain
  assert results['configurations']['focal_loss']['config']['loss'] == 'focal'


@pytest.mark.slow  # a binary run, two networks compiled
def test_compare_models_table(tmp_path, cache):
  _binary('compare_models', tmp_path, cache, '--models=cnn_zhu2023,ganet')
  results = _results(tmp_path)
  _check_common(results, tmp_path, ['CNN [13]', 'GA-Net (ours)'])
  assert results['configurations']['cnn_zhu2023']['details']['Parameters (paper)'] == '80.06K'
  assert '| CNN [13] |' in (tmp_path / study.TABLE_FILE).read_text()
