"""The generalisation study's chosen method, refitted on every record and shipped as a pretrained model.

The card holds the pooled forward figures with their intervals, the event rule the
forward folds chose (a learned rule fitted on the pooled forward predictions), the data
and preprocessing, and the limits. A stack of two methods has no shipped format: its
better part by the same rule is shipped instead, and the card says so.
"""

from __future__ import annotations

import pathlib
from typing import Sequence

import numpy as np

from ganet_jax.classify import export_physics_pretrained, export_pretrained, model_folder
from ganet_jax.data.dataset import load_records
from ganet_jax.data.preprocess import PreprocessConfig
from ganet_jax.evaluation import aggregation, physics
from ganet_jax.studies import generalization
from ganet_jax.studies import generalization_report as report
from ganet_jax.studies.cross_validation import Recipe, seed_runs
from ganet_jax.training.experiment import experiment_config, run


def card_figures(results: dict, method: str, rule: str) -> str:
  """The method's pooled forward figures (events combined by ``rule``) with their 95% intervals, for the card."""
  pooled = results['pooled'][method]
  events = results['aggregation'].get(method, {}).get('figures', {}).get(rule, {}).get('forward + test')
  events = events or pooled['event']  # the mean-probability rule of the pooled table
  cell = lambda figure: f'{figure["estimate"]:.3f} [{figure["low"]:.3f}, {figure["high"]:.3f}]'
  counts = pooled['counts']
  return (f'pooled forward folds and test years ({counts["events"]["tectonic"]} tectonic / '
          f'{counts["events"]["non_tectonic"]} non-tectonic events, each predicted by a model that never saw its '
          f'year; events combined by the {rule} rule; 95% intervals resample events): event AUC '
          f'{cell(events["auc"])}, event balanced accuracy {cell(events["balanced_accuracy"])}, event sensitivity '
          f'{cell(events["sensitivity"])}, event specificity {cell(events["specificity"])}; record AUC '
          f'{cell(pooled["record"]["auc"])}')


def event_rule(results: dict, method: str, predictions_csv: pathlib.Path, records) -> str | dict:
  """The event rule the forward folds chose for ``method`` among those a card can name, as the card names it.

  The choice is the declared one (``generalization_report.choose_rule``) among
  ``model_folder.CARD_AGGREGATIONS``: a classifier has no per-record weights for
  'snr_weighted'. 'learned' is refitted on the pooled forward predictions.
  """
  figures = results['aggregation'].get(method, {}).get('figures')
  rule = report.choose_rule(figures, model_folder.CARD_AGGREGATIONS) if figures else 'mean_probability'
  if rule != 'learned':
    return rule
  p = generalization.read_pooled(predictions_csv, records)
  keep = np.isfinite(p)
  fitted = aggregation.fit_learned(records.event_ids[keep], records.labels[keep], p[keep])
  return {'rule': 'learned', 'parameters': fitted.to_json()}


def noise_limit(preprocessing: dict) -> str:
  """The card's line on the pre-event noise a record must hold."""
  settings = preprocessing['preprocess']
  gap = settings.get('noise_gap_s', PreprocessConfig.noise_gap_s)
  return (f'Needs {settings["noise_s"]:g} s of pre-event noise ending {gap:g} s before '
          f'the origin (or the P onset if earlier): records must start that long before it.')


def ship(config, recipes: Sequence[Recipe], results: dict, workdir: pathlib.Path, destination: pathlib.Path,
         extra_limits: Sequence[str] = ()) -> pathlib.Path:
  """Refits the chosen method on every record and writes it to ``destination`` as a pretrained model.

  Args:
    config: the study's config (its ``generalization`` entry).
    recipes: the network recipes the study compared.
    results: ``generalization.run_study``'s results (``winner``, pooled figures, event rules).
    workdir: the study's folder (its forward predictions; the refitted network's run folders, one per
      seed of the recipe's ``seeds``: the ensemble its folds were scored as).
    destination: the pretrained model's folder, replaced.
    extra_limits: further limits for the card.

  Returns:
    The folder written.
  """
  settings = config.generalization
  method, note = results['winner'], ''
  if method.startswith('stack: '):
    parts = method[len('stack: '):].split(' + ')
    before = {p: results['gap'][p]['forward, before test']['estimate'] for p in parts}
    method, note = max(parts, key=before.get), f' (the chosen stack {results["winner"]} has no shipped format)'
  records = load_records(generalization.dataset_config(settings.physics_dataset))
  rule = event_rule(results, method, workdir / 'predictions' / 'forward' / f'{method}.csv',
                    generalization.align({'r': records})['r'])
  rule_name = rule if isinstance(rule, str) else rule['rule']
  tectonic, non_tectonic = records.class_counts()
  data = (f'{len(records)} records ({tectonic} tectonic, {non_tectonic} non-tectonic) of '
          f'{len(set(records.event_ids.tolist()))} events, every year of the study\'s prepared set')
  description = (f'{method}{note}, chosen by pooled event AUC over the forward folds before {settings.test_from} '
                 f'(experiments.generalize); refitted on {data}. {card_figures(results, method, rule_name)}.')
  limits = [f'Expected performance on later years, from the pooled forward evaluation: '
            f'{card_figures(results, method, rule_name)}.',
            'Trained on Pacific Northwest stations within ~0.3 deg of their events, vertical component; records '
            'from other regions, distances, instruments or source types are outside what it saw.',
            *extra_limits]
  if rule_name == 'learned':
    limits.append('Events are scored by a rule learned from the pooled forward predictions on the '
                  f'{" and ".join(s.replace("_logit", "") for s in aggregation.STATISTICS)} of their records\' '
                  'logits; it does not see how many records an event has.')
  if method.startswith('physics: '):
    feature_set = method[len('physics: '):]
    model = physics.fit_feature_model(records, feature_set)
    preprocessing = records.preprocessing
    if physics.needs_noise(feature_set):
      limits.append(noise_limit(preprocessing))
    else:  # records to classify need no pre-event noise for this feature set
      preprocessing = {**preprocessing, 'preprocess': {**preprocessing['preprocess'], 'noise_s': 0.0}}
    return export_physics_pretrained(model, destination, preprocessing=preprocessing,
                                     input_shape=records.waveforms.shape[1:], components='Z', description=description,
                                     limits=limits, aggregation=rule, overwrite=True,
                                     data={'records': len(records), 'tectonic': tectonic, 'non_tectonic': non_tectonic})
  recipe = next(r for r in recipes if r.name == method)
  network_records = load_records(generalization.dataset_config(recipe.config.dataset))
  # the seed ensemble the study's folds scored (generalization.network_predictor), refitted
  folders = []
  for seed_config, name in seed_runs(recipe.config, 'all', tuple(recipe.config.get('seeds', ()) or ())):
    folders.append(workdir / 'runs' / method / name)
    run(experiment_config(seed_config), network_records, network_records, folders[-1])
  if (network_records.preprocessing or {}).get('preprocess', {}).get('noise_s'):
    limits.append(noise_limit(network_records.preprocessing))
  return export_pretrained(folders, destination, components='Z', description=description, limits=limits,
                           aggregation=rule, overwrite=True)
