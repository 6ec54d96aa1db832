r"""The real-data study: GA-Net vs a physics baseline and a Table 1 network on prepared real records.

  python -m experiments.real_data_study --dataset=prepared/pnw --models=ganet@1,cnn_zhu2023@3 \
      --transfer=dprk=prepared/dprk,eus-sac=prepared/eus-sac --workdir=runs/pnw_study

Splits --dataset chronologically by event (train < --validation_from <= validation
< --test_from <= test), trains GA-Net and --baseline_model once per seed with the
paper's settings through ``experiment.run`` (each run in <workdir>/<model>-seed<s>,
resumable; the same folder ``experiments.train`` writes with the same flags), fits
the physics baseline (``ganet_jax.evaluation.physics``) on the same training windows, and
evaluates all of them on the test split and on each --transfer set (prepared
folders; all records used; components other than --transfer_components zero-filled,
as the vertical-only pnw training records were). Writes <workdir>/study.json (every run's metrics and
the mean/spread over seeds) and <workdir>/study.md (the tables). The decision
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

from ganet_jax.classify import keep_components
from ganet_jax.data.records import RecordSet, load_prepared
from ganet_jax.data.splits import chronological_split
from ganet_jax.evaluation import physics
from ganet_jax.evaluation.predict import predict_probabilities
from ganet_jax.models import MODELS
from ganet_jax.training import experiment
from ganet_jax.training.checkpoint import load_trained
from ganet_jax.training.config import ExperimentConfig

FLAGS = flags.FLAGS
flags.DEFINE_string('dataset', None, 'Prepared data-set folder (experiments.prepare).', required=True)
flags.DEFINE_string('workdir', 'runs/pnw_study', 'Study folder: one run folder per model and seed + study.json/md.')
flags.DEFINE_string('validation_from', '2020-07-01', 'Events from this origin time on are validation.')
flags.DEFINE_string('test_from', '2021-01-01', 'Events from this origin time on are the test split.')
flags.DEFINE_list('seeds', ['0', '1', '2'], 'Seeds of the network runs (unless a --models entry gives its own count).')
flags.DEFINE_integer('epochs', 15, 'Epochs (the paper: 15).', lower_bound=1)
flags.DEFINE_integer('batch_size', 32, 'Records per step (the paper: 32).', lower_bound=1)
flags.DEFINE_float('learning_rate', 1e-5, 'Adam learning rate (the paper: 1e-5).', lower_bound=0)
flags.DEFINE_list('models', ['ganet', 'cnn_zhu2023'], 'Networks trained per seed (GA-Net and Table 1 baselines); '
                  'name@N trains that one with seeds 0..N-1 instead of --seeds, e.g. ganet@1,cnn_zhu2023@3.')
flags.DEFINE_list('transfer', [], 'name=prepared folder pairs evaluated with the models trained here.')
flags.DEFINE_list('group_events_by_origin', ['eus-sac'], '--transfer sets without event ids whose records are '
                  'grouped into events by origin time rounded to the second (their per-file origins differ by '
                  'microseconds, so the ids prepare derives from them split one event into several).')
flags.DEFINE_string('transfer_components', 'Z', 'Components of the --transfer records kept, the others zero-filled: '
                    "'Z' shows 3-component records as the vertical-only training records looked.")

METRICS = ('sensitivity', 'specificity', 'accuracy', 'auc')


def model_seeds(entries: list[str], seeds: list[str]) -> list[tuple[str, list[int]]]:
  """(model, seeds) per --models entry: 'name' takes --seeds, 'name@N' seeds 0..N-1.

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


def split(records: RecordSet, validation_from: str, test_from: str) -> dict[str, RecordSet]:
  """Chronological train/validation/test by event (the split ``experiments.train`` makes)."""
  names = ('train', 'validation', 'test')
  index = chronological_split(records, [validation_from, test_from], names)
  for name in names:
    counts = np.bincount(records.labels[index[name]], minlength=2)
    if counts.min() == 0:
      raise ValueError(f'--validation_from={validation_from} --test_from={test_from}: the {name} split has '
                       f'{counts[0]} tectonic and {counts[1]} non-tectonic records; both classes are needed')
  return {name: records.subset(index[name]) for name in names}


def physics_probabilities(train: RecordSet, sets: dict[str, RecordSet]) -> dict[str, np.ndarray]:
  """The physics baseline fitted on ``train``: probability of tectonic of every set."""
  fitted = physics.fit_logistic(physics.ratio_features(np.asarray(train.waveforms)), train.labels)
  # fit_logistic models P(label == 1) = P(non-tectonic).
  return {name: 1.0 - fitted.probability(physics.ratio_features(np.asarray(r.waveforms)))
          for name, r in sets.items()}


def network_probabilities(model: str, seed: int, data: dict[str, RecordSet], transfer: dict[str, RecordSet],
                          workdir: pathlib.Path) -> dict[str, np.ndarray]:
  """Train (or resume) one network run and its probabilities on the test and transfer sets."""
  config = ExperimentConfig(model=model, epochs=FLAGS.epochs, batch_size=FLAGS.batch_size,
                                       learning_rate=FLAGS.learning_rate, seed=seed)
  run_dir = workdir / f'{model}-seed{seed}'
  experiment.run(config, data['train'], data['test'], run_dir, validation=data['validation'],
                 log=lambda line: print(f'{run_dir.name}: {line}', flush=True))
  probabilities = {'test': run_test_probabilities(run_dir, data['test'])}
  if transfer:
    net, variables, _ = load_trained(run_dir)
    probabilities.update({name: predict_probabilities(net, variables, r, batch_size=FLAGS.batch_size)
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
  """Mean, standard deviation (ddof 0), min and max of each metric over runs, record and event level."""
  summary = {}
  for level in ('records', 'events'):
    for name in METRICS:
      values = [(r if level == 'records' else r['events'])[name] for r in runs]
      values = np.array([np.nan if v is None else v for v in values], np.float64)
      if np.all(np.isnan(values)):
        summary[f'{level}.{name}'] = None
        continue
      summary[f'{level}.{name}'] = {'mean': float(np.nanmean(values)), 'std': float(np.nanstd(values)),
                                    'min': float(np.nanmin(values)), 'max': float(np.nanmax(values)),
                                    'runs': int(np.sum(~np.isnan(values)))}
  return summary


def markdown(study: dict) -> str:
  """The study's tables: one per evaluated set, one row per method, mean ± std over runs."""
  lines = [f'Study of {study["dataset"]}: split {study["split"]}', '']
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
          cells.append('n/a' if s is None else f'{s["mean"]:.3f} ± {s["std"]:.3f}' if s['runs'] > 1
                       else f'{s["mean"]:.3f}')
      lines.append(f'| {method} | {len(entry["runs"])} | ' + ' | '.join(cells) + ' |')
    lines.append('')
  return '\n'.join(lines)


def study(dataset: str, transfer_flags: list[str], workdir: pathlib.Path) -> dict:
  """Run every method, write study.json and study.md, return the study dict.

  Raises:
    ValueError: bad flags or splits without both classes, naming the flag.
  """
  data = split(load_prepared(dataset), FLAGS.validation_from, FLAGS.test_from)
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
  networks = model_seeds(FLAGS.models, FLAGS.seeds)
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
  report = {'dataset': dataset, 'split': f'train < {FLAGS.validation_from} <= validation < {FLAGS.test_from} <= test',
            'counts': {name: {'records': list(map(int, r.class_counts())),
                              'events': [int(len(np.unique(r.event_ids[r.labels == c]))) for c in (0, 1)]}
                       for name, r in {**data, **transfer}.items()},
            'transfer_components': FLAGS.transfer_components,
            'seeds': dict(networks), 'epochs': FLAGS.epochs, 'results': results}
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
  workdir = pathlib.Path(FLAGS.workdir)
  try:
    report = study(FLAGS.dataset, FLAGS.transfer, workdir)
  except (ValueError, FileNotFoundError) as error:
    raise app.UsageError(str(error)) from None
  print(markdown(report))
  print(f'-> {workdir / "study.json"}, {workdir / "study.md"}')


if __name__ == '__main__':
  sys.exit(app.run(main))
