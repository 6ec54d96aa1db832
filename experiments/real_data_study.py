r"""The real-data study: GA-Net vs a physics baseline and a Table 1 network on prepared real records.

  python -m experiments.real_data_study --models=ganet@1,cnn_zhu2023@3 \
      --transfer=dprk=prepared/dprk,eus-sac=prepared/eus-sac

The config (``--config``, default ``experiments/configs/pnw.py``: the paper's settings
on prepared/pnw) gives the data set, its chronological split by event (train <
split.validation_from <= validation < split.test_from <= test), the training settings,
the seeds and the study folder (config.workdir, default runs/pnw_study). Trains each
--models network once per seed through ``experiment.run`` (each run in
<workdir>/<model>-seed<s>, resumable; the same folder ``experiments.train`` writes
with the same config), fits
the physics baseline (``ganet_jax.evaluation.physics``) on the same training windows, and
evaluates all of them on the test split and on each --transfer set (prepared
folders; all records used; components other than --transfer_components zero-filled,
as the vertical-only pnw training records were). Writes <workdir>/study.json (every run's metrics and
their mean and sample std over seeds, ``studies.summarize``) and <workdir>/study.md (the tables). The decision
threshold is 0.5 and the checkpoint the last epoch: nothing is chosen on the test
split.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import pathlib
import sys

from absl import app, flags, logging
import numpy as np

from experiments import configs
from ganet_jax.classify import keep_components
from ganet_jax.data.dataset import Split, load_split
from ganet_jax.data.records import RecordSet, load_prepared
from ganet_jax.errors import ConfigError
from ganet_jax.evaluation import physics
from ganet_jax.evaluation.predict import predict_probabilities
from ganet_jax.models import MODELS
from ganet_jax.studies import summarize
from ganet_jax.training import experiment
from ganet_jax.training.checkpoint import load_trained
from ganet_jax.training.config import experiment_config

FLAGS = flags.FLAGS
CONFIG = configs.define_config_flag('pnw.py')
flags.DEFINE_list('models', ['ganet', 'cnn_zhu2023'], 'Networks trained per seed (GA-Net and Table 1 baselines); '
                  'name@N trains that one with seeds 0..N-1 instead of --config.seeds, e.g. ganet@1,cnn_zhu2023@3.')
flags.DEFINE_list('transfer', [], 'name=prepared folder pairs evaluated with the models trained here.')
flags.DEFINE_list('group_events_by_origin', ['eus-sac'], '--transfer sets without event ids whose records are '
                  'grouped into events by origin time rounded to the second (their per-file origins differ by '
                  'microseconds, so the ids prepare derives from them split one event into several).')
flags.DEFINE_string('transfer_components', 'Z', 'Components of the --transfer records kept, the others zero-filled: '
                    "'Z' shows 3-component records as the vertical-only training records looked.")

METRICS = ('sensitivity', 'specificity', 'accuracy', 'auc')


def model_seeds(entries: list[str], seeds) -> list[tuple[str, list[int]]]:
  """(model, seeds) per --models entry: 'name' takes ``seeds`` (config.seeds), 'name@N' seeds 0..N-1.

  Raises:
    ValueError: unknown model or a bad count, naming the entry.
  """
  parsed = []
  for entry in entries:
    name, sep, count = entry.partition('@')
    if name not in MODELS:
      raise ValueError(f'--models: unknown {name!r}; known: {", ".join(sorted(MODELS))}')
    if sep and not (count.isdigit() and int(count) > 0):
      raise ValueError(f'--models: {entry!r}: the count after @ must be a positive integer')
    parsed.append((name, list(range(int(count))) if sep else [int(s) for s in seeds]))
  return parsed


def events_by_origin_second(records: RecordSet) -> RecordSet:
  """``records`` with event ids replaced by their origin time rounded to the second."""
  rounded = (records.origin_times + np.timedelta64(500, 'ms')).astype('datetime64[s]')
  return dataclasses.replace(records, event_ids=rounded.astype(str))


def check_classes(split: Split, where: str) -> None:
  """Every split of ``split`` needs records of both classes; ``where`` names the split's settings.

  Raises:
    ValueError: naming the split without one class.
  """
  if split.validation is None:
    raise ConfigError('split.validation_from', 'the real-data study needs a validation split')
  for name, records in split._asdict().items():
    counts = np.bincount(records.labels, minlength=2)
    if counts.min() == 0:
      raise ValueError(f'{where}: the {name} split has {counts[0]} tectonic and {counts[1]} non-tectonic records; '
                       'both classes are needed')


def physics_probabilities(train: RecordSet, sets: dict[str, RecordSet]) -> dict[str, np.ndarray]:
  """The physics baseline fitted on ``train``: probability of tectonic of every set."""
  fitted = physics.fit_logistic(physics.ratio_features(np.asarray(train.waveforms)), train.labels)
  # fit_logistic models P(label == 1) = P(non-tectonic).
  return {name: 1.0 - fitted.probability(physics.ratio_features(np.asarray(r.waveforms)))
          for name, r in sets.items()}


def network_probabilities(model: str, seed: int, data: dict[str, RecordSet], transfer: dict[str, RecordSet],
                          workdir: pathlib.Path) -> dict[str, np.ndarray]:
  """Train (or resume) one network run and its probabilities on the test and transfer sets."""
  config = experiment_config(CONFIG.value, model=model, seed=seed)
  run_dir = workdir / f'{model}-seed{seed}'
  experiment.run(config, data['train'], data['test'], run_dir, validation=data['validation'],
                 log=lambda line: print(f'{run_dir.name}: {line}', flush=True))
  probabilities = {'test': run_test_probabilities(run_dir, data['test'])}
  if transfer:
    net, variables, _ = load_trained(run_dir)
    probabilities.update({name: predict_probabilities(net, variables, r, batch_size=config.batch_size)
                          for name, r in transfer.items()})
  return probabilities


def run_test_probabilities(run_dir: pathlib.Path, test: RecordSet) -> np.ndarray:
  """The test probabilities ``experiment.run`` wrote (predictions.csv), checked against ``test``'s records."""
  with open(run_dir / experiment.PREDICTIONS_FILE, newline='') as f:
    rows = list(csv.DictReader(f))
  if [r['record_id'] for r in rows] != list(test.record_ids):
    raise ValueError(f'{run_dir / experiment.PREDICTIONS_FILE}: its records are not the test split\'s')
  return np.array([float(r['p_tectonic']) for r in rows])


def summarise(runs: list[dict]) -> dict:
  """``studies.summarize`` (mean, sample std, min, max) of each metric over runs, record and event level."""
  return {f'{level}.{name}': summarize((r if level == 'records' else r['events'])[name] for r in runs)
          for level in ('records', 'events') for name in METRICS}


def markdown(study: dict) -> str:
  """The study's tables: one per evaluated set, one row per method, mean ± sample std over runs."""
  lines = [f'Study of {study["dataset"]}: split {study["split"]}; several runs: mean ± sample std (ddof=1).', '']
  for set_name, methods in study['results'].items():
    lines += [f'### {set_name}', '',
              '| method | runs | ' + ' | '.join(f'record {m}' for m in METRICS) + ' | '
              + ' | '.join(f'event {m}' for m in METRICS) + ' |',
              '|---' * (2 + 2 * len(METRICS)) + '|']
    for method, entry in methods.items():
      cells = []
      for level in ('records', 'events'):
        for m in METRICS:
          s = entry['summary'][f'{level}.{m}']
          cells.append('n/a' if s['mean'] is None else f'{s["mean"]:.3f} ± {s["std"]:.3f}' if s['n'] > 1
                       else f'{s["mean"]:.3f}')
      lines.append(f'| {method} | {len(entry["runs"])} | ' + ' | '.join(cells) + ' |')
    lines.append('')
  return '\n'.join(lines)


def study(config, transfer_flags: list[str], workdir: pathlib.Path) -> dict:
  """Run every method, write study.json and study.md, return the study dict.

  Raises:
    ValueError: bad settings or splits without both classes, naming the flag or config field.
  """
  split = load_split(config)
  split_text = (f'train < {config.split.validation_from} <= validation < {config.split.test_from} <= test')
  check_classes(split, f'--config.split ({split_text})')
  data = split._asdict()
  transfer = {}
  for pair in transfer_flags:
    name, sep, folder = pair.partition('=')
    if not sep or not folder:
      raise ValueError(f'--transfer: {pair!r} is not name=prepared folder')
    records = load_prepared(folder)
    if name in FLAGS.group_events_by_origin:
      records = events_by_origin_second(records)
    transfer[name] = dataclasses.replace(records, waveforms=keep_components(records.waveforms,
                                                                            FLAGS.transfer_components))
  networks = model_seeds(FLAGS.models, config.seeds)
  sets = {'test': data['test'], **transfer}
  results = {name: {} for name in sets}
  add = lambda method, name, p: results[name].setdefault(method, {'runs': []})['runs'].append(
      experiment.evaluation_report(sets[name], p))
  for name, p in physics_probabilities(data['train'], sets).items():
    add('physics (logistic on P/S and spectral ratios)', name, p)
  for model, seeds in networks:
    for seed in seeds:
      for name, p in network_probabilities(model, seed, data, transfer, workdir).items():
        add(model, name, p)
  for methods in results.values():
    for entry in methods.values():
      entry['summary'] = summarise(entry['runs'])
  report = {'dataset': config.dataset, 'split': split_text,
            'counts': {name: {'records': list(map(int, r.class_counts())),
                              'events': [int(len(np.unique(r.event_ids[r.labels == c]))) for c in (0, 1)]}
                       for name, r in {**data, **transfer}.items()},
            'transfer_components': FLAGS.transfer_components,
            'seeds': dict(networks), 'epochs': config.epochs, 'results': results}
  report = experiment.json_ready(report)
  workdir.mkdir(parents=True, exist_ok=True)
  (workdir / 'study.json').write_text(json.dumps(report, indent=2) + '\n')
  (workdir / 'study.md').write_text(markdown(report) + '\n')
  return report


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  if not FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)
  workdir = pathlib.Path(CONFIG.value.workdir or 'runs/pnw_study')
  try:
    report = study(CONFIG.value, FLAGS.transfer, workdir)
  except (ValueError, FileNotFoundError) as error:
    raise app.UsageError(str(error)) from None
  print(markdown(report))
  print(f'-> {workdir / "study.json"}, {workdir / "study.md"}')


if __name__ == '__main__':
  sys.exit(app.run(main))
