"""Trained models written in the format ``Classifier.pretrained`` loads (``model_folder``).

  export_pretrained          run folders (networks of any registered architecture)
  export_physics_pretrained  fitted physics feature models (``evaluation.physics.FeatureModel``)
  fit_and_export_physics     a physics feature set fitted on a prepared set, then exported
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any, Mapping, Sequence

import numpy as np

from ganet_jax import conventions
from ganet_jax.classify import model_folder
from ganet_jax.classify import members as members_lib
from ganet_jax.classify.preparation import check_components, options_for
from ganet_jax.data.records import load_prepared
from ganet_jax.evaluation import physics
from ganet_jax.evaluation.physics import FeatureModel
from ganet_jax.training.checkpoint import LATEST


def export_pretrained(run_folders: str | os.PathLike | Sequence[str | os.PathLike], destination: str | os.PathLike,
                      *, which: str = LATEST, components: str = conventions.COMPONENT_ORDER, description: str = '',
                      limits: str | Sequence[str] = (), aggregation: str | Mapping[str, Any] = 'mean_probability',
                      overwrite: bool = False) -> pathlib.Path:
  """Write run folders' inference variables as a model ``Classifier.pretrained`` loads.

  Each member keeps its parameters and batch statistics only (no optimizer state),
  one ``flax.serialization`` msgpack file each, beside a ``card.json`` holding what
  classifying needs and what a reader should know: kind 'network', the input shape,
  threshold, components, the training set's preprocessing, the event aggregation rule,
  the limits, ``description``, and per member the model and its fields (any
  architecture of ``ganet_jax.models.MODELS``), seed, training settings, training data
  (record counts and fingerprints) and source run. ``ganet_jax/pretrained/<name>`` ships
  with the package.

  Args:
    run_folders: one run folder or several (a seed ensemble), as for ``Classifier.from_checkpoint``.
    destination: the folder to write, e.g. ``ganet_jax.pretrained.PRETRAINED_ROOT / 'pnw'``.
    which: 'latest' or 'best' checkpoint of every run.
    components: the components the members see when loaded (e.g. 'Z' for
      networks trained on vertical-only records).
    description: free text for the card: training data, split, recipe, figures.
    limits: what the model should not be trusted for; shown whenever it is loaded.
    aggregation: the event rule (``model_folder.aggregation_rule``): 'mean_probability',
      'mean_logit', or {'rule': 'learned', 'parameters': LearnedAggregation.to_json()}.
    overwrite: replace an existing folder.

  Returns:
    The folder written.

  Raises:
    FileNotFoundError, ValueError: as ``Classifier.from_checkpoint``; an existing
      destination; an aggregation rule a classifier cannot apply.
  """
  members = members_lib.load_runs(run_folders, which)
  members_lib.check_members(members)
  check_components(components)
  first = members[0]
  options_for(first)  # a card whose preprocessing Classifier.pretrained could not rebuild is refused now
  card = _card('network', first.input_shape, first.threshold, components, first.preprocessing, description, limits,
               aggregation, [{'name': member.name, **member.card} for member in members])
  return model_folder.write(destination, card, [m.variables for m in members], overwrite=overwrite)


def export_physics_pretrained(models: FeatureModel | Sequence[FeatureModel], destination: str | os.PathLike, *,
                              preprocessing: Mapping[str, Any], input_shape: Sequence[int],
                              components: str = 'Z', threshold: float = conventions.THRESHOLD, description: str = '',
                              limits: str | Sequence[str] = (),
                              aggregation: str | Mapping[str, Any] = 'mean_probability',
                              data: Mapping[str, Any] | None = None, names: Sequence[str] | None = None,
                              overwrite: bool = False) -> pathlib.Path:
  """Write fitted physics feature models as a model ``Classifier.pretrained`` loads (kind 'physics').

  Each member is a ``FeatureModel`` (feature set, standardisation, weights, bias) in a
  JSON file; several are averaged like a seed ensemble's members. The card holds the preprocessing
  the records need (the training set's preprocess.json content, noise included for a
  noise-referenced set), so classified records are prepared exactly as the training ones.

  Args:
    models: one fitted model (``physics.fit_feature_model``) or several.
    destination: the folder to write.
    preprocessing: the settings of the records they were fitted on (``RecordSet.preprocessing``).
    input_shape: (samples, channels) of those records' windows.
    components: the components the models see (they read the vertical).
    threshold: records with probability of tectonic >= threshold are tectonic.
    description, limits, aggregation, overwrite: as ``export_pretrained``.
    data: what the models were fitted on (record counts, split, source), for the card.
    names: the members' names (default: their feature sets).

  Returns:
    The folder written.

  Raises:
    ValueError: preprocessing that cannot feed the models (another rate; no noise for
      a noise-referenced set), an input shape that is not (samples, 3), an existing destination.
  """
  models = [models] if isinstance(models, FeatureModel) else list(models)
  names = list(names) if names is not None else [model.feature_set for model in models]
  if len(names) != len(models) or len(set(names)) != len(names):
    raise ValueError(f'member names {names}: one distinct name per model')
  check_components(components)
  samples, channels = (int(n) for n in input_shape)
  if channels != len(conventions.COMPONENT_ORDER):
    raise ValueError(f'input shape {tuple(input_shape)}: classification prepares (samples, '
                     f'{len(conventions.COMPONENT_ORDER)}) windows')
  members = [members_lib.physics_member(model, dict(preprocessing), (samples, channels), name=name,
                                        threshold=threshold) for model, name in zip(models, names)]
  members_lib.check_members(members)
  options_for(members[0])
  entries = [{'name': name, 'kind': 'physics', 'feature_set': model.feature_set,
              'sampling_rate': model.sampling_rate, 'data': dict(data or {})} for model, name in zip(models, names)]
  card = _card('physics', (samples, channels), threshold, components, dict(preprocessing), description, limits,
               aggregation, entries)
  return model_folder.write(destination, card, models, overwrite=overwrite)


def fit_and_export_physics(prepared: str | os.PathLike, feature_set: str, destination: str | os.PathLike, *,
                           train_before: str | None = None, **card) -> pathlib.Path:
  """Fit ``feature_set`` on a prepared set (records before ``train_before``) and export it (kind 'physics').

  Args:
    prepared: the prepared set's folder.
    feature_set: a name in ``evaluation.physics.FEATURE_SETS``.
    destination: the folder to write.
    train_before: fit on records whose origin is before this date (YYYY-MM-DD); None: every record.
    **card: ``export_physics_pretrained``'s components, description, limits, aggregation and overwrite.

  Returns:
    The folder written.

  Raises:
    ValueError: naming --train_before when it is not a date; as ``export_physics_pretrained``.
  """
  records = load_prepared(prepared)
  if train_before:
    try:
      before = np.datetime64(train_before, 'ms')
    except ValueError:
      raise ValueError(f'--train_before={train_before}: not a date (YYYY-MM-DD)') from None
    records = records.subset(np.flatnonzero(records.origin_times < before))
  tectonic, non_tectonic = records.class_counts()
  model = physics.fit_feature_model(records, feature_set)
  data = {'prepared': str(prepared), 'train_before': train_before, 'records': len(records), 'tectonic': tectonic,
          'non_tectonic': non_tectonic, 'events': len(set(records.event_ids.tolist()))}
  return export_physics_pretrained(model, destination, preprocessing=records.preprocessing,
                                   input_shape=records.waveforms.shape[1:], data=data, **card)


def _card(kind: str, input_shape, threshold: float, components: str, preprocessing, description: str,
          limits: str | Sequence[str], aggregation, members: list[dict]) -> dict[str, Any]:
  """A JSON-ready card (``model_folder.write`` adds the format and the members' files)."""
  card = {'kind': kind, 'input_shape': list(input_shape), 'threshold': threshold, 'components': components,
          'preprocessing': preprocessing, 'aggregation': aggregation, 'description': description,
          'limits': [limits] if isinstance(limits, str) else list(limits), 'members': members}
  return json.loads(json.dumps(card))
