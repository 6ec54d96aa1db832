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
A card that is not a JSON object, or names a field of the wrong form, is refused naming
the card file.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
from typing import Any, Sequence

import flax
import jax
import numpy as np

from ganet_jax.data import file_checks
from ganet_jax.data import outputs
from ganet_jax.evaluation import aggregation as aggregation_lib
from ganet_jax.evaluation.physics import FeatureModel
from ganet_jax.models import build_model
from ganet_jax.pretrained import CARD_FILE, locate

__all__ = ['CARD_FILE', 'FORMAT_VERSION', 'KINDS', 'aggregation_rule', 'card_kind', 'card_limits', 'model_from_entry',
           'read', 'read_card', 'write']

FORMAT_VERSION = 1
KINDS = ('network', 'physics')
# Larger than any member or card this format writes (a default-width GA-Net member is ~6 MB):
# a bigger file is not one, and reading it could exhaust memory.
MAX_MEMBER_BYTES = 1 << 30
MAX_CARD_BYTES = 16 << 20
# Event rules a card may name: the others need inputs a classifier does not have (per-record weights).
CARD_AGGREGATIONS = ('mean_probability', 'mean_logit', 'learned')


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
  saved = card.get('aggregation') or 'mean_probability'
  if not isinstance(saved, (str, dict)):
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
  kind = card_kind(card)
  aggregation_rule(card)  # a rule the classifier could not apply is refused before anything is written
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

  Every member's file is checked against the card's SHA-256. A network member's
  variables are checked against the shapes its model takes on the card's input
  shape; a physics member is a ``FeatureModel`` (its variables are {}).

  Raises:
    ValueError: unknown name (listing the shipped ones), a card of another format or
      kind, an event aggregation it cannot apply, or a member file that is damaged or
      does not fit its model, naming the file.
  """
  folder = locate(name)
  card = read_card(folder / CARD_FILE)
  if card.get('format') != FORMAT_VERSION:
    raise ValueError(f'{folder / CARD_FILE}: format {card.get("format")!r}; this version reads {FORMAT_VERSION}')
  try:
    kind = card_kind(card)
    aggregation_rule(card)
  except ValueError as error:
    raise ValueError(f'{folder}/{error}') from None
  entries = card.get('members')
  if not isinstance(entries, list) or not entries or not all(
      isinstance(entry, dict) and isinstance(entry.get('file'), str) and isinstance(entry.get('sha256'), str)
      for entry in entries):
    raise ValueError(f'{folder / CARD_FILE}: members must be a list of {{"file", "sha256", ...}} objects, one per member')
  members = []
  for entry in entries:
    path = folder / entry['file']
    data = file_checks.read_regular_bytes(path, MAX_MEMBER_BYTES)  # a FIFO or /dev/zero must not hang the read
    if hashlib.sha256(data).hexdigest() != entry['sha256']:
      raise ValueError(f'{path}: damaged (its SHA-256 differs from {CARD_FILE}\'s)')
    members.append(_physics_member(path, data) if kind == 'physics' else _network_member(path, data, entry, card))
  return card, folder, members


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


def _physics_member(path: pathlib.Path, data: bytes) -> tuple[FeatureModel, dict]:
  try:
    return FeatureModel.from_json(json.loads(data)), {}
  except ValueError as error:
    raise ValueError(f'{path}: {error}') from None


def _network_member(path: pathlib.Path, data: bytes, entry: dict[str, Any], card: dict[str, Any]) -> tuple[Any, dict]:
  model = model_from_entry(entry['model'])
  template = jax.eval_shape(lambda m=model: m.init(jax.random.key(0), np.zeros((1, *card['input_shape']), np.float32)))
  template = {'params': template['params'], 'batch_stats': template.get('batch_stats', {})}
  variables = flax.serialization.msgpack_restore(data)
  expected = jax.tree.map(lambda leaf: tuple(leaf.shape), template)
  found = jax.tree.map(lambda leaf: tuple(np.shape(leaf)), variables)
  if found != expected:
    raise ValueError(f'{path}: its variables do not fit {entry["model"]} on input {card["input_shape"]}')
  return model, variables
