"""A study: named configurations x seeds through ``experiment.run``, aggregated like the paper's tables.

``run_study`` trains and evaluates every (configuration, seed) pair in its own
run folder ``<workdir>/<configuration>/seed_<seed>`` (so an interrupted study
resumes where it stopped: finished runs only re-evaluate, unfinished ones resume
from their last checkpoint), always on the same test records, and writes:

  results.json   provenance, and per configuration its details, per-seed metrics
                 and the aggregate (mean, std, min, max over seeds)
  table.md       the paper-shaped Markdown table (``ganet_jax.studies.report``)
  figure.png     where the paper has a figure (``Figure``)
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import pathlib
import sys
import time
from typing import Any, Callable, Mapping, Sequence

from absl import logging
import jax
import numpy as np

import ganet_jax
from ganet_jax.conventions import NON_TECTONIC, TECTONIC
from ganet_jax.data.records import RecordSet
from ganet_jax.evaluation.reports import METRICS_FILE
from ganet_jax.progress import Progress
from ganet_jax.studies import report
from ganet_jax.training import experiment
from ganet_jax.training.config import CONFIG_FILE, ExperimentConfig
from ganet_jax.training.run_folder import TRAIN_IDS_FILE

RESULTS_FILE = 'results.json'
TABLE_FILE = 'table.md'
FIGURE_FILE = 'figure.png'
# What a seed's row keeps from experiment.run's metrics; 'misclassified' is fn + fp (Table 3).
METRICS = ('sensitivity', 'specificity', 'accuracy', 'auc', 'misclassified')


@dataclasses.dataclass(frozen=True)
class Configuration:
  """One row of a study's table.

  Attributes:
    name: key in results.json and the run folder's name (letters, digits, ``_-.:+``).
    label: the row's label in the table (the paper's wording).
    config: the run's settings; ``seed`` is replaced by each of the study's seeds.
    train: the training records, or a function seed -> training records for
      studies whose training set is drawn per seed (imbalance sets, augmentation).
    details: JSON-ready facts shown in results.json (and, when a table column
      names them, in the table), e.g. ``{'Parameters': '1.57M'}``.
  """
  name: str
  label: str
  config: ExperimentConfig
  train: RecordSet | Callable[[int], RecordSet]
  details: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Figure:
  """A line plot of metrics (mean, std error bars) against the configurations, in order.

  Attributes:
    x_label: the axis the configurations stand for, e.g. 'imbalance ratio'.
    title: the figure's title.
    metrics: which of ``METRICS`` to draw.
  """
  x_label: str
  title: str
  metrics: Sequence[str] = ('sensitivity', 'specificity', 'accuracy')


def run_study(study: str, configurations: Sequence[Configuration], test: RecordSet, *,
              seeds: Sequence[int], workdir: str | pathlib.Path, provenance: Mapping[str, Any],
              columns: Sequence[str], figure: Figure | None = None, title: str | None = None,
              smoke_run: str | None = None, log: Callable[[str], None] = logging.info,
              progress: bool | None = None) -> dict[str, Any]:
  """Run every configuration with every seed, aggregate, write results.json, table.md, figure.png.

  Args:
    study: the study's name (the table's title).
    configurations: the table's rows, in order.
    test: the records every run is evaluated on.
    seeds: one run per seed and configuration.
    workdir: the study folder.
    provenance: what produced the study (flags, dataset identity, ...); the
      library version, device, command line, start time and wall time are added.
    columns: the table's columns: names in ``METRICS`` or keys of the details.
    figure: the figure to draw, if the paper has one.
    title: the table's title (default: ``study``).
    smoke_run: for runs whose numbers mean nothing (synthetic data, small mode): the
      stamp that heads the table and figure instead of the paper's title
      (``report.smoke_note``); None: a real study.
    log: receives a line per run; absl's ``logging.info`` by default.
    progress: log runs done, their rate and the ETA after every run (``ganet_jax.progress``):
      True, False, or None for when stderr is a terminal.

  Returns:
    The dict written to results.json.

  Raises:
    ValueError: duplicate configuration names, no seeds, or a column that is
      neither a metric nor a detail of every configuration.
  """
  _check(configurations, seeds, columns)
  workdir = pathlib.Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  start, started = time.perf_counter(), datetime.datetime.now(datetime.timezone.utc)
  results = {'study': study, 'title': title or study, 'smoke_run': smoke_run, 'provenance': {},
             'test': _class_counts(test), 'configurations': {}}
  done = Progress(len(configurations) * len(seeds), 'runs', enabled=progress, label=study, interval_s=0)
  for configuration in configurations:
    runs = {}
    for seed in seeds:
      log(f'{study}: {configuration.name}, seed {seed}')
      runs[str(seed)] = _run_one(configuration, seed, test, workdir, f'{configuration.name}/seed_{seed}')
      done.update(1)
    results['configurations'][configuration.name] = {
        'label': configuration.label, 'details': dict(configuration.details),
        'config': _config_without_seed(configuration.config), 'seeds': runs, 'aggregate': aggregate(runs.values())}
  results['provenance'] = {
      **provenance, 'seeds': list(seeds), 'command': sys.argv, 'library_version': ganet_jax.__version__,
      'jax_version': jax.__version__, 'device_kind': jax.devices()[0].device_kind,
      'platform': jax.devices()[0].platform, 'started_utc': started.isoformat(timespec='seconds'),
      'wall_seconds': time.perf_counter() - start}
  (workdir / RESULTS_FILE).write_text(json.dumps(results, indent=2, allow_nan=False) + '\n')
  (workdir / TABLE_FILE).write_text(report.markdown_table(results, columns))
  if figure is not None:
    report.plot_study(results, figure.metrics, workdir / FIGURE_FILE, x_label=figure.x_label,
                            title=figure.title)
  return results


def study_outputs(workdir: str | pathlib.Path, results: Mapping[str, Any]) -> list[pathlib.Path]:
  """What ``run_study`` wrote: results.json, table.md, figure.png (if drawn), then each run folder.

  A run folder holds ``experiment.run``'s files and train_record_ids.txt.
  """
  workdir = pathlib.Path(workdir)
  files = [workdir / name for name in (RESULTS_FILE, TABLE_FILE, FIGURE_FILE) if (workdir / name).exists()]
  return files + [workdir / run['run_dir'] for entry in results['configurations'].values()
                  for run in entry['seeds'].values()]


def summarize(values) -> dict[str, float | int | None]:
  """Mean, sample std (ddof=1; 0 for one value), min and max of one metric over seeds.

  Undefined values (None or NaN, e.g. specificity without non-tectonic test
  records) are left out; ``n`` counts the values used (0: every entry None).
  Every study reports its spread over seeds through this function.
  """
  values = np.array([v for v in values if v is not None], np.float64)
  values = values[~np.isnan(values)]
  if len(values) == 0:
    return {'mean': None, 'std': None, 'min': None, 'max': None, 'n': 0}
  return {'mean': float(values.mean()), 'std': float(values.std(ddof=1)) if len(values) > 1 else 0.0,
          'min': float(values.min()), 'max': float(values.max()), 'n': len(values)}


def aggregate(runs) -> dict[str, dict[str, float | int | None]]:
  """``summarize`` over seeds of each of ``METRICS``."""
  runs = list(runs)
  return {metric: summarize(run.get(metric) for run in runs) for metric in METRICS}


def _run_one(configuration: Configuration, seed: int, test: RecordSet, workdir: pathlib.Path, run_name: str) -> dict:
  run_dir = workdir / run_name
  train = configuration.train(seed) if callable(configuration.train) else configuration.train
  config = dataclasses.replace(configuration.config, seed=seed)
  start = time.perf_counter()
  experiment.run(config, train, test, run_dir, log=lambda line: None)
  # metrics.json rather than run's return value: undefined metrics are already null there.
  result = json.loads((run_dir / METRICS_FILE).read_text())
  # Which records trained this run: lets a reader check nesting (strategy 1) or overlap.
  (run_dir / TRAIN_IDS_FILE).write_text(''.join(f'{r}\n' for r in train.record_ids))
  saved = json.loads((run_dir / CONFIG_FILE).read_text())['data']
  counts = result['confusion']
  return {**{m: result[m] for m in METRICS if m != 'misclassified'},
          'misclassified': counts['fn'] + counts['fp'], 'confusion': counts,
          'train': {**_class_counts(train), 'fingerprint': saved['train']},
          'test_fingerprint': saved['test'], 'run_dir': run_name, 'seconds': time.perf_counter() - start}


def _class_counts(records: RecordSet) -> dict[str, int]:
  labels = np.asarray(records.labels)
  return {'records': len(labels), 'tectonic': int(np.sum(labels == TECTONIC)),
          'non_tectonic': int(np.sum(labels == NON_TECTONIC))}


def _config_without_seed(config: ExperimentConfig) -> dict:
  saved = dataclasses.asdict(config)
  del saved['seed']
  return saved


def _check(configurations: Sequence[Configuration], seeds: Sequence[int], columns: Sequence[str]) -> None:
  names = [c.name for c in configurations]
  if len(set(names)) != len(names):
    raise ValueError(f'configuration names repeat: {names}')
  if not seeds:
    raise ValueError('no seeds given')
  for column in columns:
    if column not in METRICS and any(column not in c.details for c in configurations):
      raise ValueError(f'column {column!r} is neither one of {METRICS} nor a detail of every configuration')
