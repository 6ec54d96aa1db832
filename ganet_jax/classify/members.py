"""A classifier's trained models: loaded from run folders or a pretrained model, and checked to agree.

A member carries what classifying with it needs besides its variables: the input
shape, the training set's preprocessing and the run's threshold. An ensemble's
members must agree on all three, so one prepared window and one threshold serve them all.
A member's model is a Linen network (of any architecture in ``ganet_jax.models.MODELS``)
or a physics ``FeatureModel`` (``evaluation.physics``), which takes the record's noise.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
from typing import Any, Sequence

from ganet_jax import conventions
from ganet_jax.classify import model_folder
from ganet_jax.data import prepare_settings
from ganet_jax.evaluation.physics import FeatureModel
from ganet_jax.training.checkpoint import load_trained
from ganet_jax.training.config import CONFIG_FILE


@dataclasses.dataclass(frozen=True)
class Member:
  """One trained network of a classifier.

  Attributes:
    model: the Linen module, or a physics ``FeatureModel``.
    variables: {'params': ..., 'batch_stats': ...} ({} for a physics model).
    name: its label in outputs (``p_tectonic_<name>`` columns).
    source: the run folder or pretrained file it came from, for messages.
    input_shape: (samples, channels) it takes.
    preprocessing: the training set's preprocessing settings (``prepare_settings.settings``), or None.
    threshold: the threshold its run used.
    card: what ``export_pretrained`` records of it: model entry, seed, training settings and data.
  """
  model: Any
  variables: dict
  name: str
  source: str
  input_shape: tuple[int, int]
  preprocessing: dict | None = None
  threshold: float = conventions.THRESHOLD
  card: dict = dataclasses.field(default_factory=dict)


def load_runs(workdir: str | os.PathLike | Sequence[str | os.PathLike], which: str) -> list[Member]:
  """Run folders written by ``experiment.run`` as members, named by their folders.

  Args:
    workdir: one run folder (config.json + checkpoints/) or a sequence of them.
    which: 'latest' or 'best' checkpoint of every run.

  Returns:
    One member per folder, in order.

  Raises:
    FileNotFoundError: no such folder, no config.json or no checkpoint, naming the path.
    ValueError: a folder listed twice, a config.json that is not a run's, a model
      not taking (samples, 3), or a checkpoint that cannot be restored into the
      architecture its config.json names.
  """
  single = isinstance(workdir, (str, os.PathLike))
  folders = [pathlib.Path(workdir)] if single else [pathlib.Path(w) for w in workdir]
  if len(set(folders)) != len(folders):
    raise ValueError(f'a run folder is listed twice in {", ".join(map(str, folders))}')
  return [load_run(folder, which, name) for folder, name in zip(folders, member_names(folders))]


def member_names(sources: Sequence[pathlib.Path]) -> list[str]:
  """Short distinct labels of run folders: their names, with parent folders where those repeat."""
  for depth in (1, 2, 3):
    names = ['-'.join(path.parts[-depth:]) for path in sources]
    if len(set(names)) == len(names):
      return names
  return [f'member{i}' for i in range(len(sources))]


def load_run(workdir: pathlib.Path, which: str, name: str) -> Member:
  """One run folder as a member (raises FileNotFoundError / ValueError naming the path, as ``load_runs``)."""
  config_path = workdir / CONFIG_FILE
  if not workdir.is_dir():
    raise FileNotFoundError(f'{workdir}: no such run folder')
  if not config_path.is_file():
    raise FileNotFoundError(f'{config_path}: missing; {workdir} is not a run folder written by experiments.train')
  try:
    saved = json.loads(config_path.read_text())
    samples, channels = saved['data']['input_shape']
    threshold = float(saved['config'].get('threshold', conventions.THRESHOLD))
  except (ValueError, KeyError, TypeError) as error:
    raise ValueError(f'{config_path}: not a run configuration ({type(error).__name__}: {error})') from None
  if channels != len(conventions.COMPONENT_ORDER):
    raise ValueError(f'{config_path}: the model takes {channels} channels; classification prepares '
                     f'{len(conventions.COMPONENT_ORDER)} ({conventions.COMPONENT_ORDER})')
  try:
    model, variables, epoch = load_trained(workdir, which)
  except FileNotFoundError:
    raise  # names the missing checkpoint already
  except Exception as error:  # orbax reports damage and structure mismatches in several exception types
    detail = (str(error).strip().splitlines() or [''])[0][:200]
    raise ValueError(f'{workdir / "checkpoints" / which}: cannot restore the checkpoint: damaged, or saved by '
                     f'another architecture than {config_path} names ({saved["config"].get("model")!r}, '
                     f'overrides {saved["config"].get("model_overrides")}) ({type(error).__name__}: '
                     f'{detail})') from None
  data = {k: v for k, v in saved['data'].items() if k != 'preprocessing'}
  card = {'model': {'name': saved['config']['model'], 'overrides': saved['config'].get('model_overrides', {})},
          'seed': saved['config'].get('seed'), 'config': saved['config'], 'data': data,
          'source': str(workdir), 'checkpoint': which, 'epoch': epoch}
  return Member(model, variables, name, str(workdir), (samples, channels), saved['data'].get('preprocessing'),
                threshold, card)


def load_pretrained(name: str) -> tuple[list[Member], dict, pathlib.Path]:
  """A shipped or exported model (``model_folder``, of any kind) as members.

  Returns:
    (members, the model's card, its folder).

  Raises:
    ValueError: an unknown name (listing the shipped ones), a damaged member file, or
      a physics member its card's preprocessing cannot feed (``check_physics``).
  """
  card, folder, loaded = model_folder.read(name)
  preprocessing = card.get('preprocessing')
  members = [Member(model, variables, entry.get('name', f'member{i}'), str(folder / entry['file']),
                    tuple(card['input_shape']), preprocessing, float(card['threshold']), entry)
             for i, ((model, variables), entry) in enumerate(zip(loaded, card['members']))]
  for member in members:
    check_physics(member)
  return members, card, folder


def physics_member(model: FeatureModel, preprocessing: dict | None, input_shape: tuple[int, int], *,
                   name: str = 'physics', source: str = '', threshold: float = conventions.THRESHOLD,
                   card: dict | None = None) -> Member:
  """A physics ``FeatureModel`` as a member, checked against the preprocessing of its records.

  Args:
    model: the fitted feature model.
    preprocessing: the settings of the records it was fitted on (a prepared set's
      preprocess.json content, ``RecordSet.preprocessing``).
    input_shape: (samples, channels) of those records' windows.
    name, source, threshold, card: as ``Member``'s fields.

  Raises:
    ValueError: as ``check_physics``.
  """
  entry = {'kind': 'physics', 'feature_set': model.feature_set, **(card or {})}
  member = Member(model, {}, name, source or f'physics:{model.feature_set}', tuple(input_shape), preprocessing,
                  threshold, entry)
  check_physics(member)
  return member


def check_physics(member: Member) -> None:
  """Raises ValueError unless a physics member's records give what its features need.

  Its windows must be at the rate it was fitted at, and a noise-referenced feature set
  needs preprocessing that keeps the pre-event noise (``noise_s > 0``).
  """
  if not isinstance(member.model, FeatureModel):
    return
  settings = (member.preprocessing or {}).get('preprocess', {})
  rate = float(settings.get('sampling_rate', conventions.SAMPLING_RATE))
  if rate != member.model.sampling_rate:
    raise ValueError(f'{member.source}: the physics model was fitted on {member.model.sampling_rate:g} Hz windows '
                     f'but its preprocessing makes {rate:g} Hz ones')
  if member.model.needs_noise and not float(settings.get('noise_s', 0) or 0) > 0:
    raise ValueError(f'{member.source}: feature set {member.model.feature_set!r} is noise-referenced but its '
                     'preprocessing keeps no pre-event noise (noise_s = 0): prepare the training records with '
                     '--noise_s > 0')


def signal_chain(preprocessing: dict | None) -> dict | None:
  """The part of a training set's preprocessing settings that shapes a window (what members must share)."""
  if not preprocessing:
    return None
  return {'preprocess': prepare_settings.signal_settings(preprocessing.get('preprocess', {})),
          'picker': preprocessing.get('picker')}


def check_members(members: Sequence[Member]) -> None:
  """Raises ValueError unless every member takes the same input shape, preprocessing and threshold (in (0, 1))."""
  if not members:
    raise ValueError('a classifier needs at least one member')
  for member in members:
    if not 0 < member.threshold < 1:  # NaN too: it compares false with every probability
      raise ValueError(f'{member.source}: threshold {member.threshold}: must lie strictly between 0 and 1')
  first = members[0]
  for member in members[1:]:
    if member.input_shape != first.input_shape:
      raise ValueError(f'{member.source} takes {member.input_shape} records but {first.source} '
                       f'{first.input_shape}: an ensemble\'s members must take the same input')
    if signal_chain(member.preprocessing) != signal_chain(first.preprocessing):
      raise ValueError(f'{member.source} was trained on records preprocessed otherwise than {first.source}\'s '
                       f'({signal_chain(member.preprocessing)} against {signal_chain(first.preprocessing)}): '
                       'an ensemble\'s members must share the preprocessing (preprocess.json of their training set)')
    if member.threshold != first.threshold:
      raise ValueError(f'{member.source} uses threshold {member.threshold} but {first.source} {first.threshold}: '
                       'an ensemble has one threshold')
