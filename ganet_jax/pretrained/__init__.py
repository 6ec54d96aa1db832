"""Shipped inference models, one folder each: ``ganet_jax/pretrained/<name>/`` (``card.json`` + members).

Their file format is ``ganet_jax.classify.model_folder``'s; ``Classifier.pretrained(name)`` loads one.
"""

from __future__ import annotations

import pathlib

__all__ = ['CARD_FILE', 'PRETRAINED_ROOT', 'available', 'locate']

CARD_FILE = 'card.json'
PRETRAINED_ROOT = pathlib.Path(__file__).resolve().parent


def available() -> list[str]:
  """The names of the models shipped with the package."""
  return sorted(path.parent.name for path in PRETRAINED_ROOT.glob(f'*/{CARD_FILE}'))


def locate(name: str | pathlib.Path) -> pathlib.Path:
  """The folder of a shipped model (by name) or of an exported one (by path).

  Raises:
    ValueError: no such model, listing the shipped ones.
  """
  path = pathlib.Path(name)
  if (path / CARD_FILE).is_file():
    return path
  shipped = PRETRAINED_ROOT / str(name)
  if '/' not in str(name) and (shipped / CARD_FILE).is_file():
    return shipped
  names = available()
  raise ValueError(f'no pretrained model {str(name)!r}; shipped: {", ".join(names) if names else "none"} '
                   f'(or give the folder of one written by export_pretrained)')
