"""Shipped inference weights: one folder per ensemble, ``ganet_jax/pretrained/<name>/``.

  card.json            what the ensemble is: input shape, threshold, components, the training
                       set's preprocessing, a description, and per member its file, model and
                       fields, seed, training settings, training data and source run
  member_<i>.msgpack   one member's {'params', 'batch_stats'} (``flax.serialization``), float32

Only what inference needs: no optimizer state (a default-width GA-Net member is ~6 MB).
Written by ``ganet_jax.classify.export_pretrained``, read by ``Classifier.pretrained``;
this module holds the file format, the classifier what the members mean.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
from typing import Any, Sequence

import flax
import jax
import numpy as np

from ganet_jax.data import outputs
from ganet_jax.models import build_model

__all__ = ['CARD_FILE', 'FORMAT_VERSION', 'PRETRAINED_ROOT', 'available', 'locate', 'model_from_entry', 'read',
           'write']

FORMAT_VERSION = 1
CARD_FILE = 'card.json'
PRETRAINED_ROOT = pathlib.Path(__file__).resolve().parent


def available() -> list[str]:
  """The names of the ensembles shipped with the package."""
  return sorted(path.parent.name for path in PRETRAINED_ROOT.glob(f'*/{CARD_FILE}'))


def locate(name: str | pathlib.Path) -> pathlib.Path:
  """The folder of a shipped ensemble (by name) or of an exported one (by path).

  Raises:
    ValueError: no such ensemble, listing the shipped ones.
  """
  path = pathlib.Path(name)
  if (path / CARD_FILE).is_file():
    return path
  shipped = PRETRAINED_ROOT / str(name)
  if '/' not in str(name) and (shipped / CARD_FILE).is_file():
    return shipped
  names = available()
  raise ValueError(f'no pretrained ensemble {str(name)!r}; shipped: {", ".join(names) if names else "none"} '
                   f'(or give the folder of one written by export_pretrained)')


def model_from_entry(entry: dict[str, Any]):
  """The Linen module a card's ``{'name', 'overrides'}`` entry names (JSON lists read back as tuples)."""
  overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in entry['overrides'].items()}
  return build_model(entry['name'], **overrides)


def write(destination: str | pathlib.Path, card: dict[str, Any], members: Sequence[Any], *,
          overwrite: bool = False) -> pathlib.Path:
  """Write an ensemble folder: ``card`` (its 'members' entries gain 'file' and 'sha256') and the variables.

  The folder is written beside its destination and renamed into place when complete.

  Args:
    destination: the folder to create.
    card: JSON-ready description; ``card['members'][i]`` describes ``members[i]``.
    members: each member's {'params': ..., 'batch_stats': ...}.
    overwrite: replace an existing ensemble folder.

  Returns:
    The folder.

  Raises:
    ValueError: the destination exists (without ``overwrite``) or is not an ensemble folder.
  """
  destination = pathlib.Path(destination)
  if destination.exists():
    if not (destination / CARD_FILE).is_file():
      raise ValueError(f'{destination}: exists and is not a pretrained ensemble folder; choose another destination')
    if not overwrite:
      raise ValueError(f'{destination}: exists; pass overwrite=True (--overwrite) to replace it')
  card = {'format': FORMAT_VERSION, **card, 'members': [dict(entry) for entry in card['members']]}
  # staged beside the destination: a failed or interrupted write leaves the old ensemble or nothing
  with outputs.output_lock(destination), outputs.staged_folder(destination) as staging:
    for index, (entry, variables) in enumerate(zip(card['members'], members, strict=True)):
      variables = {'params': variables['params'], 'batch_stats': variables.get('batch_stats', {})}
      data = flax.serialization.to_bytes(jax.tree.map(lambda leaf: np.asarray(leaf, np.float32), variables))
      entry['file'] = f'member_{index}.msgpack'
      entry['sha256'] = hashlib.sha256(data).hexdigest()
      (staging / entry['file']).write_bytes(data)
    (staging / CARD_FILE).write_text(json.dumps(card, indent=2) + '\n')
  return destination


def read(name: str | pathlib.Path) -> tuple[dict[str, Any], pathlib.Path, list[tuple[Any, dict]]]:
  """A shipped or exported ensemble: its card, folder and members' (model, variables).

  Every member's file is checked against the card's SHA-256 and its variables against
  the shapes its model takes on the card's input shape.

  Raises:
    ValueError: unknown name (listing the shipped ones), a card of another format,
      or a member file that is damaged or does not fit its model, naming the file.
  """
  folder = locate(name)
  card = json.loads((folder / CARD_FILE).read_text())
  if card.get('format') != FORMAT_VERSION:
    raise ValueError(f'{folder / CARD_FILE}: format {card.get("format")!r}; this version reads {FORMAT_VERSION}')
  members = []
  for entry in card['members']:
    path = folder / entry['file']
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != entry['sha256']:
      raise ValueError(f'{path}: damaged (its SHA-256 differs from {CARD_FILE}\'s)')
    model = model_from_entry(entry['model'])
    template = jax.eval_shape(lambda m=model: m.init(jax.random.key(0), np.zeros((1, *card['input_shape']),
                                                                                  np.float32)))
    template = {'params': template['params'], 'batch_stats': template.get('batch_stats', {})}
    variables = flax.serialization.msgpack_restore(data)
    expected = jax.tree.map(lambda leaf: tuple(leaf.shape), template)
    found = jax.tree.map(lambda leaf: tuple(np.shape(leaf)), variables)
    if found != expected:
      raise ValueError(f'{path}: its variables do not fit {entry["model"]} on input {card["input_shape"]}')
    members.append((model, variables))
  return card, folder, members
