"""The file format of a pretrained model's folder (shipped in ``ganet_jax/pretrained/<name>/`` or exported anywhere).

  card.json            what the model is: its kind, input shape, threshold, components, the
                       training set's preprocessing, the event aggregation rule, its limits,
                       a description, and per member its file, model, training settings and data
  member_<i>.msgpack   kind 'network': one member's {'params', 'batch_stats'}
                       (``flax.serialization``), float32
  member_<i>.json      kind 'physics': one member's feature set and logistic regression
                       (``evaluation.physics.FeatureModel.to_json``)

Kinds (``card['kind']``; a card without one is a 'network' card):
  network   networks of any architecture registered in ``ganet_jax.models.MODELS``, built
            from the card's ``{'name', 'overrides'}`` entry (one, or a seed ensemble)
  physics   logistic regressions on ``evaluation.physics`` feature sets; a noise-referenced
            set needs preprocessing that keeps the pre-event noise (``noise_s > 0``)

Only what inference needs: no optimizer state (a default-width GA-Net member is ~6 MB).
Written by ``ganet_jax.classify.export_pretrained`` / ``export_physics_pretrained``, read by
``Classifier.pretrained``; this module holds the file format, the classifier what the members mean.
A card that is not a JSON object, or has a field of the wrong form or value, is refused
naming the card file and the field (``check_card``) before any member file or record is
read; a member file that is not a regular file, is damaged, holds NaN/inf or does not fit
the card's input shape is refused naming the file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import pathlib
import re
from typing import Any, Sequence

import flax
import jax
import numpy as np

from ganet_jax import conventions
from ganet_jax.data import file_checks
from ganet_jax.data import ingest
from ganet_jax.data import outputs
from ganet_jax.data import picking
from ganet_jax.data import prepare_settings
from ganet_jax.data.prepare import P_FALLBACKS
from ganet_jax.evaluation import aggregation as aggregation_lib
from ganet_jax.evaluation.physics import FeatureModel, physics_features
from ganet_jax.models import build_model
from ganet_jax.pretrained import CARD_FILE, locate

__all__ = ['CARD_FILE', 'FORMAT_VERSION', 'KINDS', 'aggregation_rule', 'card_kind', 'card_limits', 'check_card',
           'model_from_entry', 'read', 'read_card', 'write']

FORMAT_VERSION = 1
KINDS = ('network', 'physics')
# Larger than any member or card this format writes (a default-width GA-Net member is ~6 MB):
# a bigger file is not one, and reading it could exhaust memory.
MAX_MEMBER_BYTES = 1 << 30
MAX_CARD_BYTES = 16 << 20
# Event rules a card may name: the others need inputs a classifier does not have (per-record weights).
CARD_AGGREGATIONS = ('mean_probability', 'mean_logit', 'learned')
# Longer input is no window of one record (the paper's is 100 s; DPRK's regional records 800 s).
MAX_WINDOW_S = 3600.0


def model_from_entry(entry: dict[str, Any]):
  """The Linen module a card's ``{'name', 'overrides'}`` entry names (JSON lists read back as tuples)."""
  overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in entry['overrides'].items()}
  return build_model(entry['name'], **overrides)


def card_kind(card: dict[str, Any]) -> str:
  """The card's kind: 'network' (also for cards written before kinds existed) or 'physics'.

  Raises:
    ValueError: an unknown kind.
  """
  kind = card.get('kind', 'network')
  if kind not in KINDS:
    raise ValueError(f'{CARD_FILE}: kind {kind!r}; this version reads {", ".join(KINDS)}')
  return kind


def card_limits(card: dict[str, Any]) -> list[str]:
  """The limits a card states (``card['limits']``: a text or a list of texts), [] where it states none."""
  limits = card.get('limits') or []
  return [limits] if isinstance(limits, str) else [str(limit) for limit in limits]


def aggregation_rule(card: dict[str, Any]) -> tuple[str, aggregation_lib.LearnedAggregation | None]:
  """The event aggregation rule a card names (default 'mean_probability') and, for 'learned', its parameters.

  ``card['aggregation']`` is a rule name, or ``{'rule': 'learned', 'parameters':
  LearnedAggregation.to_json()}``.

  Raises:
    ValueError: an unknown rule, one a classifier cannot apply, or 'learned' without parameters
      or with parameters this version cannot apply (naming card.json and the field).
  """
  saved = card.get('aggregation')
  saved = 'mean_probability' if saved is None else saved  # cards written before event rules existed
  if not isinstance(saved, (str, dict)) or not saved:
    raise ValueError(f'{CARD_FILE}: event aggregation {saved!r}; a rule name or {{"rule": ..., "parameters": ...}}')
  rule, parameters = (saved, None) if isinstance(saved, str) else (saved.get('rule'), saved.get('parameters'))
  if rule not in CARD_AGGREGATIONS:
    raise ValueError(f'{CARD_FILE}: event aggregation {rule!r}; a model card may name '
                     f'{", ".join(CARD_AGGREGATIONS)} (of {", ".join(aggregation_lib.RULES)})')
  if rule != 'learned':
    return rule, None
  if not parameters or not isinstance(parameters, dict):
    raise ValueError(f"{CARD_FILE}: the 'learned' event aggregation needs its parameters "
                     "({'rule': 'learned', 'parameters': LearnedAggregation.to_json()})")
  try:
    return rule, aggregation_lib.LearnedAggregation.from_json(parameters)
  except ValueError as error:  # e.g. a rule fitted on statistics this version no longer computes
    raise ValueError(f'{CARD_FILE}: aggregation.parameters.{error}') from None


def _member_file(kind: str, index: int, member: Any) -> tuple[str, bytes]:
  """A member's file name and contents: msgpack variables of a network, JSON of a physics model."""
  if kind == 'physics':
    if not isinstance(member, FeatureModel):
      raise ValueError(f'a physics card\'s members are evaluation.physics.FeatureModel, not {type(member).__name__}')
    return f'member_{index}.json', (json.dumps(member.to_json(), indent=2) + '\n').encode()
  variables = {'params': member['params'], 'batch_stats': member.get('batch_stats', {})}
  return f'member_{index}.msgpack', flax.serialization.to_bytes(
      jax.tree.map(lambda leaf: np.asarray(leaf, np.float32), variables))


def write(destination: str | pathlib.Path, card: dict[str, Any], members: Sequence[Any], *,
          overwrite: bool = False) -> pathlib.Path:
  """Write a model folder: ``card`` (its 'members' entries gain 'file' and 'sha256') and the variables.

  The folder is written beside its destination and renamed into place when complete.

  Args:
    destination: the folder to create.
    card: JSON-ready description; ``card['members'][i]`` describes ``members[i]``;
      ``card['kind']`` (default 'network') says what the members are.
    members: a network card's {'params': ..., 'batch_stats': ...} per member, a physics
      card's ``FeatureModel``.
    overwrite: replace an existing model folder.

  Returns:
    The folder.

  Raises:
    ValueError: the destination exists (without ``overwrite``) or is not a model folder;
      an unknown kind or aggregation rule, or members that are not of the card's kind.
  """
  destination = pathlib.Path(destination)
  if destination.exists():
    if not (destination / CARD_FILE).is_file():
      raise ValueError(f'{destination}: exists and is not a pretrained model folder; choose another destination')
    if not overwrite:
      raise ValueError(f'{destination}: exists; pass overwrite=True (--overwrite) to replace it')
  card = {'format': FORMAT_VERSION, **card, 'members': [dict(entry) for entry in card['members']]}
  check_card(card, destination / CARD_FILE, written=False)  # a card no classifier could apply is never written
  kind = card_kind(card)
  # staged beside the destination: a failed or interrupted write leaves the old model or nothing
  with outputs.output_lock(destination), outputs.staged_folder(destination) as staging:
    for index, (entry, member) in enumerate(zip(card['members'], members, strict=True)):
      entry['file'], data = _member_file(kind, index, member)
      entry['sha256'] = hashlib.sha256(data).hexdigest()
      (staging / entry['file']).write_bytes(data)
    (staging / CARD_FILE).write_text(json.dumps(card, indent=2) + '\n')
  return destination


def read(name: str | pathlib.Path) -> tuple[dict[str, Any], pathlib.Path, list[tuple[Any, dict]]]:
  """A shipped or exported model: its card, folder and members' (model, variables).

  The whole card is checked first (``check_card``), before any member file is read.
  Every member's file is checked against the card's SHA-256. A network member's
  variables are checked against the shapes its model takes on the card's input
  shape, and must be finite; a physics member is a ``FeatureModel`` (its variables are
  {}) whose numbers are finite and whose features on a window of the card's input
  shape are as many as its weights.

  Raises:
    ValueError: unknown name (listing the shipped ones), a card field this version
      cannot apply (naming card.json and the field), or a member file that is missing,
      not a regular file, damaged or does not fit its model, naming the file.
  """
  folder = locate(name)
  card = read_card(folder / CARD_FILE)
  check_card(card, folder / CARD_FILE)
  kind = card_kind(card)
  members = []
  for entry in card['members']:
    path = folder / entry['file']
    data = file_checks.read_regular_bytes(path, MAX_MEMBER_BYTES)  # a FIFO or /dev/zero must not hang the read
    if hashlib.sha256(data).hexdigest() != entry['sha256']:
      raise ValueError(f'{path}: damaged (its SHA-256 differs from {CARD_FILE}\'s)')
    members.append(_physics_member(path, data, entry, card) if kind == 'physics'
                   else _network_member(path, data, entry, card))
  return card, folder, members


def check_card(card: dict[str, Any], path: pathlib.Path | str = CARD_FILE, *, written: bool = True) -> None:
  """Refuses a card with a field the classifier cannot apply, naming ``path`` and the field.

  Checked: format, kind, input_shape ((samples > 0, 3) integers), threshold (a number
  strictly between 0 and 1), components (letters of Z, N, E, each once), preprocessing
  (settings ``prepare_settings.options_from_settings`` rebuilds, or null), aggregation,
  description, limits and each member entry (file and sha256 when ``written``, a name,
  its kind, a network member's model entry). Nothing a record's outcome could depend
  on is left to be found after records were read.

  Args:
    card: the card's JSON object.
    path: the card file, for messages.
    written: whether the members' 'file' and 'sha256' are there (False before ``write``).

  Raises:
    ValueError: ``<path>: <field> <value>: <what it must be>``.
  """
  def refuse(field: str, what: str) -> ValueError:
    value = card
    for key in field.replace(']', '').replace('[', '.').split('.'):
      value = value[int(key)] if isinstance(value, list) else value.get(key, '<missing>')
    return ValueError(f'{path}: {field} {value!r}: {what}')

  if written and (type(card.get('format')) is not int or card['format'] != FORMAT_VERSION):
    raise ValueError(f'{path}: format {card.get("format")!r}; this version reads {FORMAT_VERSION}')
  try:
    kind = card_kind(card)
    aggregation_rule(card)
  except ValueError as error:
    raise ValueError(f'{path}{str(error)[len(CARD_FILE):]}') from None
  shape = card.get('input_shape')
  if not (isinstance(shape, list) and len(shape) == 2 and all(type(n) is int and n > 0 for n in shape)
          and shape[1] == len(conventions.COMPONENT_ORDER)):
    raise refuse('input_shape', f'must be [samples, {len(conventions.COMPONENT_ORDER)}], positive integers')
  threshold = card.get('threshold')
  if not (_is_number(threshold) and 0 < threshold < 1):
    raise refuse('threshold', 'must be a number strictly between 0 and 1 (records with p_tectonic >= it are '
                              'tectonic)')
  components = card.get('components')
  if not (isinstance(components, str) and components and set(components) <= set(conventions.COMPONENT_ORDER)
          and len(set(components)) == len(components)):
    raise refuse('components', f'must be letters of {conventions.COMPONENT_ORDER!r}, each once (e.g. "Z")')
  rate = _checked_rate(card, path, refuse)
  if shape[0] / rate > MAX_WINDOW_S:
    raise refuse('input_shape', f'{shape[0]} samples at {rate:g} Hz are more than {MAX_WINDOW_S:g} s: not a window '
                                'of one record')
  window_s = (card['preprocessing'] or {}).get('preprocess', {}).get('window_s')
  if window_s is not None and not (_is_number(window_s) and abs(window_s * rate - shape[0]) < 0.5):
    raise refuse('preprocessing.preprocess.window_s', f'differs from input_shape {shape} at {rate:g} Hz: the '
                                                      'windows the members were trained on')
  if not isinstance(card.get('description', ''), str):
    raise refuse('description', 'must be a text')
  limits = card.get('limits')
  if not (limits is None or isinstance(limits, str) or
          (isinstance(limits, list) and all(isinstance(limit, str) for limit in limits))):
    raise refuse('limits', 'must be a text or a list of texts')
  entries = card.get('members')
  if not isinstance(entries, list) or not entries or not all(isinstance(entry, dict) for entry in entries):
    raise ValueError(f'{path}: members must be a list of {{"file", "sha256", ...}} objects, one per member')
  for index, entry in enumerate(entries):
    _check_member_entry(entry, f'members[{index}]', kind, written, refuse)
  names = [entry.get('name', f'member{i}') for i, entry in enumerate(entries)]
  if len(set(names)) != len(names):
    raise refuse('members', f'two members share a name ({", ".join(names)}): each names a p_tectonic_<name> column')


def _checked_rate(card: dict[str, Any], path, refuse) -> float:
  """The windows' rate the card's preprocessing gives, once every setting that shapes a window is checked."""
  if 'preprocessing' not in card:
    raise refuse('preprocessing', 'must be the training set\'s settings (preprocess.json), or null where unknown')
  saved = card['preprocessing']
  if saved is None:
    return conventions.SAMPLING_RATE
  for field in ('preprocess', 'picker'):
    if not isinstance(saved, dict) or not isinstance(saved.get(field), dict):
      raise refuse(f'preprocessing.{field}' if isinstance(saved, dict) else 'preprocessing',
                   'must be the settings of the training set (preprocess.json: {"preprocess": {...}, '
                   '"picker": {...}})')
  settings, picker = saved['preprocess'], saved['picker']
  # absent, these would silently take a default other than the training set's
  for name in set(prepare_settings.SIGNAL_SETTINGS) - set(prepare_settings.LATER_SIGNAL_SETTINGS):
    if name not in settings:
      raise refuse(f'preprocessing.preprocess.{name}', 'is part of the training windows\' signal chain: give it')
  band = settings['bandpass']
  if not (band is None or isinstance(band, list) and len(band) == 2 and all(map(_is_number, band))):
    raise refuse('preprocessing.preprocess.bandpass', 'must be null or [low Hz, high Hz]')
  for name in (f.name for f in dataclasses.fields(picking.PickerConfig)):
    value = picker.get(name)
    if not (_is_number(value) or isinstance(value, list) and value and all(map(_is_number, value))):
      raise refuse(f'preprocessing.picker.{name}', 'must be the number(s) the training set was picked with')
  if picker['travel_time_tolerance'] < 0:
    raise refuse('preprocessing.picker.travel_time_tolerance', 'must be >= 0')
  if saved.get('p_fallback', ingest.PrepareOptions.p_fallback) not in P_FALLBACKS:
    raise refuse('preprocessing.p_fallback', f'must be one of {", ".join(P_FALLBACKS)}')
  try:
    rebuilt = prepare_settings.options_from_settings(saved, ingest.PrepareOptions())
  except ValueError as error:  # its message holds the whole settings: keep what it says of them
    raise ValueError(f'{path}: preprocessing: settings this version cannot rebuild '
                     f'({str(error).rsplit("}: ", 1)[-1][:200]})') from None
  return rebuilt.preprocess.sampling_rate


def _is_number(value: Any) -> bool:
  return type(value) in (int, float) and math.isfinite(value)


def _check_member_entry(entry: dict[str, Any], field: str, kind: str, written: bool, refuse) -> None:
  if written:
    file = entry.get('file')
    if not (isinstance(file, str) and file and pathlib.PurePath(file).name == file and file not in ('.', '..')):
      raise refuse(f'{field}.file', 'must be the name of a file in the model folder')
    if not (isinstance(entry.get('sha256'), str) and re.fullmatch('[0-9a-f]{64}', entry['sha256'])):
      raise refuse(f'{field}.sha256', 'must be the member file\'s SHA-256, 64 hexadecimal digits')
  if not isinstance(entry.get('name', ''), str) or 'name' in entry and not entry['name']:
    raise refuse(f'{field}.name', 'must be a text')
  if entry.get('kind', kind) != kind:
    raise refuse(f'{field}.kind', f'differs from the card\'s kind {kind!r}')
  if kind == 'network':
    try:
      model_from_entry(entry['model'])
    except (KeyError, TypeError, ValueError, AttributeError) as error:
      raise refuse(f'{field}.model', f'must be {{"name": a model of ganet_jax.models.MODELS, "overrides": '
                                     f'{{...}}}} ({type(error).__name__}: {str(error)[:120]})') from None


def read_card(path: pathlib.Path) -> dict[str, Any]:
  """A card file's JSON object.

  Raises:
    ValueError: naming the file when it is not a regular file of a sane size, not JSON, or holds no object.
  """
  try:
    card = json.loads(file_checks.read_regular_bytes(path, MAX_CARD_BYTES))
  except (json.JSONDecodeError, UnicodeDecodeError) as error:
    raise ValueError(f'{path}: not JSON ({error})') from None
  if not isinstance(card, dict):
    raise ValueError(f'{path}: holds a JSON {type(card).__name__}, not the object a model card is')
  return card


def _physics_member(path: pathlib.Path, data: bytes, entry: dict[str, Any], card: dict[str, Any]
                    ) -> tuple[FeatureModel, dict]:
  try:
    model = FeatureModel.from_json(json.loads(data))
  except ValueError as error:  # json's errors too
    raise ValueError(f'{path}: {error}') from None
  logistic = model.logistic
  numbers = np.concatenate([logistic.mean, logistic.scale, logistic.weights, [logistic.bias, model.sampling_rate]])
  if not (np.all(np.isfinite(numbers)) and np.all(logistic.scale > 0) and model.sampling_rate > 0):
    raise ValueError(f'{path}: holds NaN/inf, a scale <= 0 or a rate <= 0: not a fitted physics model')
  for field in ('feature_set', 'sampling_rate'):
    if field in entry and entry[field] != getattr(model, field):
      raise ValueError(f'{path}: {field} {getattr(model, field)!r}, but {CARD_FILE} says {entry[field]!r}')
  samples = card['input_shape'][0]
  rng = np.random.default_rng(0)  # a probe window: only the number of features counts
  noise = rng.normal(size=(1, samples, 3)).astype(np.float32) if model.needs_noise else None
  count = physics_features(rng.normal(size=(1, samples, 3)).astype(np.float32), model.feature_set,
                           rate=model.sampling_rate, noise=noise).shape[-1]
  if count != len(logistic.weights):
    raise ValueError(f'{path}: feature set {model.feature_set!r} gives {count} features on the card\'s input '
                     f'{card["input_shape"]} at {model.sampling_rate:g} Hz; the model holds {len(logistic.weights)} '
                     'weights')
  return model, {}


def _network_member(path: pathlib.Path, data: bytes, entry: dict[str, Any], card: dict[str, Any]) -> tuple[Any, dict]:
  model = model_from_entry(entry['model'])
  try:
    template = jax.eval_shape(lambda m=model: m.init(jax.random.key(0),
                                                     np.zeros((1, *card['input_shape']), np.float32)))
  except Exception as error:  # a model that cannot take the card's input: Flax raises several types
    raise ValueError(f'{path}: {entry["model"]} cannot take the card\'s input_shape {card["input_shape"]} '
                     f'({type(error).__name__}: {str(error).strip().splitlines()[0][:160]})') from None
  template = {'params': template['params'], 'batch_stats': template.get('batch_stats', {})}
  try:
    variables = flax.serialization.msgpack_restore(data)
  except Exception as error:  # msgpack raises several types for bytes that are not its format
    raise ValueError(f'{path}: not the msgpack variables of a member ({type(error).__name__})') from None
  expected = jax.tree.map(lambda leaf: tuple(leaf.shape), template)
  try:
    found = jax.tree.map(lambda leaf: tuple(np.shape(leaf)), variables)
  except Exception:  # leaves that are not arrays
    found = None
  if found != expected:
    raise ValueError(f'{path}: its variables do not fit {entry["model"]} on input {card["input_shape"]}')
  if not all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(variables)):
    raise ValueError(f'{path}: its variables hold NaN or inf: a damaged or diverged member; re-export it')
  return model, variables
