"""The real-data study: GA-Net learning from a few dozen real events, against honest references.

Every method is trained on the training split (train < split.validation_from <=
validation < split.test_from <= test, by event) and evaluated on the test split:
  - GA-Net with the paper's settings on ``study.paper_dataset``;
  - each ``study.models`` network with the recipe, once per ``config.seeds`` seed
    (mean ± sample std over seeds), and GA-Net's seed ensemble (their mean
    probability, evaluated in one compiled call over the stacked members);
  - the physics baseline on ``study.physics_dataset`` with ``study.physics_features``;
  - confound controls: P(tectonic) looked up from the station, the instrument or the
    year alone (``evaluation.controls``);
and ``study`` writes study.json and study.md (record- and event-level tables, the
ensemble by station) and attention figures of a few right and wrong test events.
Nothing is chosen on the test split: the threshold is 0.5. ``experiments.real_data_study``
is its binary.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Mapping, Sequence

from absl import logging
import ml_collections
import numpy as np

from ganet_jax.classify import export_pretrained, keep_components
from ganet_jax.conventions import TECTONIC, THRESHOLD
from ganet_jax.data.dataset import Split, load_split
from ganet_jax.data.records import RecordSet, load_prepared
from ganet_jax.errors import ConfigError
from ganet_jax.evaluation import controls, metrics, physics
from ganet_jax.evaluation.attention import record_attention
from ganet_jax.evaluation.plots import plot_attention
from ganet_jax.evaluation.predict import predict_ensemble, stack_variables
from ganet_jax.evaluation.reports import evaluation_report, json_ready, read_predictions
from ganet_jax.studies.run import summarize
from ganet_jax.training import experiment
from ganet_jax.training.checkpoint import load_trained
from ganet_jax.training.config import apply_overrides
from ganet_jax.training.experiment import experiment_config

METRICS = ('sensitivity', 'specificity', 'balanced_accuracy', 'auc')
NAMES = {'ganet': 'GA-Net', 'cnn_zhu2023': 'CNN [13]'}


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


def physics_probabilities(train: RecordSet, sets: dict[str, RecordSet], feature_set: str = 'ratios'
                          ) -> dict[str, np.ndarray]:
  """The physics baseline fitted on ``train``: probability of tectonic of every set."""
  p_tectonic = physics.fit_records(train, feature_set)
  return {name: p_tectonic(r) for name, r in sets.items()}


def train_runs(config, split: Split, name: str, workdir: pathlib.Path, model: str, *,
               progress: bool | None = None) -> list[pathlib.Path]:
  """One run per ``config.seeds`` seed (resumed if its folder exists); their folders."""
  folders = []
  # a pretrained encoder (config.init_from) is config.model's: another network trains from scratch
  fields = {'init_from': ''} if model != config.model.name else {}
  for seed in config.seeds:
    run_dir = workdir / f'{name}-seed{seed}'
    experiment.run(experiment_config(config, model=model, seed=int(seed), **fields), split.train, split.test, run_dir,
                   validation=split.validation, log=lambda line, d=run_dir: logging.info('%s: %s', d.name, line),
                   progress=progress)
    folders.append(run_dir)
  return folders


def ensemble_probabilities(folders: list[pathlib.Path], sets: dict[str, RecordSet]) -> dict[str, np.ndarray]:
  """The seed ensemble's mean probability of tectonic on every set: one compiled call per batch."""
  loaded = [load_trained(folder) for folder in folders]
  stacked = stack_variables([variables for _, variables, _ in loaded])
  return {name: predict_ensemble(loaded[0][0], stacked, records)[1] for name, records in sets.items()}


def summarise(runs: list[dict]) -> dict:
  """``studies.summarize`` (mean, sample std, min, max) of each metric over runs, record and event level."""
  return {f'{level}.{name}': summarize((r if level == 'records' else r['events'])[name] for r in runs)
          for level in ('records', 'events') for name in METRICS}


def by_station(records: RecordSet, p_tectonic: np.ndarray) -> list[dict]:
  """Per station: records of each class, accuracy at 0.5, and AUC where the station saw both classes."""
  stations = controls.station_key(records)
  rows = []
  for station in np.unique(stations):
    at = stations == station
    report = metrics.classification_metrics(records.labels[at], p_tectonic[at])
    rows.append({'station': str(station), 'tectonic': int(np.sum(records.labels[at] == 0)),
                 'non_tectonic': int(np.sum(records.labels[at] == 1)), 'accuracy': report['accuracy'],
                 'auc': report['auc']})
  return rows


def attention_figures(folder: pathlib.Path, test: RecordSet, p_tectonic: np.ndarray, out: pathlib.Path,
                      per_kind: int) -> list[str]:
  """Attention of the first member on the first record of a few right and wrong test events of each class."""
  model, variables, _ = load_trained(folder)
  events, labels, p_event = metrics.event_probabilities(test.event_ids, test.labels, p_tectonic)
  right = (p_event >= THRESHOLD) == (labels == TECTONIC)
  out.mkdir(parents=True, exist_ok=True)
  written = []
  for label in (0, 1):
    for correct in (True, False):
      chosen = events[(labels == label) & (right == correct)][:per_kind]
      for event in chosen:
        index = int(np.flatnonzero(test.event_ids == event)[0])
        kind = ('tectonic' if label == 0 else 'non-tectonic') + (' right' if correct else ' wrong')
        path = out / f'{"right" if correct else "wrong"}-{test.record_ids[index]}.png'
        plot_attention(test.waveforms[index], record_attention(model, variables, test.waveforms[index]), path,
                       title=f'{test.record_ids[index]} ({test.event_types[index]}, {kind}): '
                             f'P(tectonic) record {p_tectonic[index]:.2f}, event {p_event[events == event][0]:.2f}')
        written.append(str(path))
  return written


def markdown(study: dict) -> str:
  """The study's tables: one per evaluated set, one row per method, mean ± sample std over runs."""
  lines = [f'Study of {study["dataset"]}: split {study["split"]}; several runs: mean ± sample std (ddof=1). '
           'Tectonic is the positive class; events: mean of their records\' probabilities; threshold 0.5.', '']
  for set_name, methods in study['results'].items():
    lines += [f'### {set_name}', '',
              '| method | runs | records | ' + ' | '.join(f'record {m}' for m in METRICS) + ' | '
              + ' | '.join(f'event {m}' for m in METRICS) + ' | collapsed |',
              '|---' * (4 + 2 * len(METRICS)) + '|']
    for method, entry in methods.items():
      cells = []
      for level in ('records', 'events'):
        for m in METRICS:
          s = entry['summary'][f'{level}.{m}']
          cells.append('n/a' if s['mean'] is None else f'{s["mean"]:.3f} ± {s["std"]:.3f}' if s['n'] > 1
                       else f'{s["mean"]:.3f}')
      collapsed = sum(bool(run.get('collapsed_to_one_class')) for run in entry['runs'])
      records = entry['runs'][0].get('n_records', '') if entry['runs'] else ''
      lines.append(f'| {method} | {len(entry["runs"])} | {records} | ' + ' | '.join(cells) + f' | {collapsed} |')
    lines.append('')
  if study.get('by_station'):
    lines += ['### test split by station (the recipe\'s GA-Net ensemble)', '',
              '| station | tectonic | non-tectonic | accuracy | AUC |', '|---|---|---|---|---|']
    for row in study['by_station']:
      auc = '-' if row['auc'] is None else f'{row["auc"]:.3f}'
      lines.append(f'| {row["station"]} | {row["tectonic"]} | {row["non_tectonic"]} | {row["accuracy"]:.3f} | {auc} |')
    lines.append('')
  return '\n'.join(lines)


@dataclasses.dataclass(frozen=True)
class Transfer:
  """Prepared sets evaluated with the recipe's GA-Net ensemble, beside the test split.

  Attributes:
    sets: name -> prepared folder (prepared like the recipe's data set).
    group_events_by_origin: names of sets without event ids whose records are grouped into
      events by origin time rounded to the second.
    components: the components kept, the others zero-filled ('Z': 3-component records shown
      as the vertical-only training records looked).
  """
  sets: Mapping[str, str] = dataclasses.field(default_factory=dict)
  group_events_by_origin: Sequence[str] = ()
  components: str = 'Z'

  def load(self) -> dict[str, RecordSet]:
    """The transfer sets as the recipe's network sees them."""
    loaded = {}
    for name, folder in self.sets.items():
      records = load_prepared(folder)
      if name in self.group_events_by_origin:
        records = events_by_origin_second(records)
      loaded[name] = dataclasses.replace(records, waveforms=keep_components(records.waveforms, self.components))
    return loaded


def parse_transfer(pairs: Sequence[str]) -> dict[str, str]:
  """``--transfer``'s name=prepared folder pairs (ValueError naming the flag for another form)."""
  sets = {}
  for pair in pairs:
    name, sep, folder = pair.partition('=')
    if not sep or not folder:
      raise ValueError(f'--transfer: {pair!r} is not name=prepared folder')
    sets[name] = folder
  return sets


def card_description(ensemble: int, recipe: str, source: str, dataset: str, split_text: str, test: dict,
                     note: str) -> str:
  """The shipped ensemble's card description: what it is, what it was trained on, its test figures, ``note``."""
  return (f'GA-Net seed ensemble ({ensemble} seeds), recipe {recipe!r} of {source} on {dataset}; {split_text}. On the '
          f'test split: record AUC {test["auc"]:.3f}, event AUC {test["events"]["auc"]:.3f}, event balanced accuracy '
          f'{test["events"]["balanced_accuracy"]:.3f} (docs/results.md, "Results on real data"). {note}').rstrip()


def study(config, paper: ml_collections.ConfigDict, workdir: pathlib.Path, *, transfer: Transfer = Transfer(),
          export: pathlib.Path | None = None, source: str = '', progress: bool | None = None) -> dict:
  """Run every method, write study.json and study.md, return the study dict.

  Args:
    config: the recipe's config (the recipe ``config.study.recipe`` applied), with a ``study`` entry.
    paper: the paper's settings on ``config.study.paper_dataset`` with ``config.study.paper_seeds``.
    workdir: the run folders (``<method>-seed<s>``, resumed), study.json, study.md, attention/.
    transfer: further prepared sets evaluated with the recipe's GA-Net ensemble.
    export: ship the recipe's GA-Net seed ensemble to this folder (replacing it), its card
      described with ``config.study.card_note``.
    source: where the recipe came from (its config file), for the card.
    progress: records/s and ETA lines of each run (None: when stderr is a terminal).

  Raises:
    ValueError: bad settings or splits without both classes, naming the flag or config field.
  """
  recipe = config.study.recipe
  split = load_split(config)
  split_text = f'train < {config.split.validation_from} <= validation < {config.split.test_from} <= test'
  check_classes(split, f'--config.split ({split_text})')
  transfer_sets = transfer.load()
  sets = {'test': split.test, **transfer_sets}
  results = {name: {} for name in sets}
  add = lambda method, name, p: results[name].setdefault(method, {'runs': []})['runs'].append(
      evaluation_report(sets[name], p))

  paper_split = load_split(paper)
  for folder in train_runs(paper, paper_split, 'paper-ganet', workdir, 'ganet', progress=progress):
    results['test'].setdefault('GA-Net, paper settings', {'runs': []})['runs'].append(
        evaluation_report(paper_split.test, read_predictions(folder, paper_split.test)))
  folders = {}
  for model in config.study.models:
    folders[model] = train_runs(config, split, f'{recipe}-{model}', workdir, model, progress=progress)
    for folder in folders[model]:
      add(f'{NAMES.get(model, model)}, recipe {recipe}', 'test', read_predictions(folder, split.test))
  ensemble = {}
  if 'ganet' in folders:
    ensemble = ensemble_probabilities(folders['ganet'], sets)
    for name, p in ensemble.items():
      add(f'GA-Net, recipe {recipe}, ensemble of {len(folders["ganet"])}', name, p)
  physics_split = load_split(apply_overrides(config, {'dataset': config.study.physics_dataset, 'train_sources': ()}))
  physics_p = physics_probabilities(physics_split.train, {'test': physics_split.test}, config.study.physics_features)
  results['test'][f'physics ({config.study.physics_features})'] = {
      'runs': [evaluation_report(physics_split.test, physics_p['test'])]}
  for key, p in controls.control_probabilities(split.train, split.test).items():
    add(f'control: {key} only', 'test', p)
  for methods in results.values():
    for entry in methods.values():
      entry['summary'] = summarise(entry['runs'])

  report = {'dataset': config.dataset, 'split': split_text,
            'counts': {name: {'records': list(map(int, r.class_counts())),
                              'events': [int(len(np.unique(r.event_ids[r.labels == c]))) for c in (0, 1)]}
                       for name, r in {**split._asdict(), **transfer_sets}.items()},
            'paper_dataset': config.study.paper_dataset, 'physics_dataset': config.study.physics_dataset,
            'recipe': recipe, 'seeds': list(config.seeds), 'results': results}
  if ensemble:
    report['by_station'] = by_station(split.test, ensemble['test'])
    report['attention_figures'] = attention_figures(folders['ganet'][0], split.test, ensemble['test'],
                                                    workdir / 'attention', config.study.attention_examples)
  report = json_ready(report)
  workdir.mkdir(parents=True, exist_ok=True)
  (workdir / 'study.json').write_text(json.dumps(report, indent=2) + '\n')
  (workdir / 'study.md').write_text(markdown(report) + '\n')
  if export is not None and 'ganet' in folders:
    description = card_description(len(folders['ganet']), recipe, source, config.dataset, split_text,
                                   evaluation_report(split.test, ensemble['test']), config.study.get('card_note', ''))
    export_pretrained(folders['ganet'], export, components='Z', overwrite=True, description=description)
  return report
