"""Settings read back from JSON files (``config.json``, ``preprocess.json``, a model card)."""

from typing import Any, Mapping


def as_tuples(fields: Mapping[str, Any]) -> dict[str, Any]:
  """``fields`` with lists as tuples: JSON reads a setting's tuples back as lists, and a module's fields must hash.

  Examples:
    >>> as_tuples({'bandpass': [1.0, 20.0], 'window_s': 100.0})
    {'bandpass': (1.0, 20.0), 'window_s': 100.0}
  """
  return {k: tuple(v) if isinstance(v, list) else v for k, v in dict(fields).items()}
