"""Trained runs written as a pretrained ensemble (``ganet_jax.pretrained``'s format)."""

from __future__ import annotations

import json
import os
import pathlib
from typing import Sequence

from ganet_jax import conventions
from ganet_jax import pretrained as pretrained_lib
from ganet_jax.classify import members as members_lib
from ganet_jax.classify.preparation import check_components, options_for
from ganet_jax.training.checkpoint import LATEST


def export_pretrained(run_folders: str | os.PathLike | Sequence[str | os.PathLike], destination: str | os.PathLike,
                      *, which: str = LATEST, components: str = conventions.COMPONENT_ORDER, description: str = '',
                      overwrite: bool = False) -> pathlib.Path:
  """Write run folders' inference variables as an ensemble ``Classifier.pretrained`` loads.

  Each member keeps its parameters and batch statistics only (no optimizer state),
  one ``flax.serialization`` msgpack file each, beside a ``card.json`` holding what
  classifying needs and what a reader should know: the input shape, threshold,
  components, the training set's preprocessing, ``description``, and per member the
  model and its fields, seed, training settings, training data (record counts and
  fingerprints) and source run. ``ganet_jax/pretrained/<name>`` ships with the package.

  Args:
    run_folders: one run folder or several (a seed ensemble), as for ``Classifier.from_checkpoint``.
    destination: the folder to write, e.g. ``ganet_jax.pretrained.PRETRAINED_ROOT / 'pnw'``.
    which: 'latest' or 'best' checkpoint of every run.
    components: the components the members see when loaded (e.g. 'Z' for
      networks trained on vertical-only records).
    description: free text for the card: training data, split, recipe, limits.
    overwrite: replace an existing ensemble folder.

  Returns:
    The folder written.

  Raises:
    FileNotFoundError, ValueError: as ``Classifier.from_checkpoint``; an existing destination.
  """
  members = members_lib.load_runs(run_folders, which)
  members_lib.check_members(members)
  check_components(components)
  first = members[0]
  options_for(first)  # a card whose preprocessing Classifier.pretrained could not rebuild is refused now
  card = {'input_shape': list(first.input_shape), 'threshold': first.threshold, 'components': components,
          'preprocessing': first.preprocessing, 'description': description,
          'members': [{'name': member.name, **member.card} for member in members]}
  return pretrained_lib.write(destination, json.loads(json.dumps(card)), [m.variables for m in members],
                              overwrite=overwrite)
