"""Labels from QuakeML event types: tectonic earthquakes against the non-tectonic families.

Only ``earthquake`` is tectonic. The explosion and collapse families are
non-tectonic. Any other type (``landslide``, ``not reported``, a catalog's own
spelling such as ``nuclear explosion (DPRK)``) is a decision the user makes with an
explicit mapping (``--event_type_map``), never a default.
"""

from __future__ import annotations

from typing import Mapping

from ganet_jax import conventions
from ganet_jax.errors import RecordRejected

TECTONIC_TYPES = frozenset({'earthquake'})
NON_TECTONIC_TYPES = frozenset({
    'explosion', 'chemical explosion', 'industrial explosion', 'mining explosion',
    'quarry blast', 'nuclear explosion', 'collapse', 'mine collapse', 'cavity collapse',
    'rock burst'})


def label_for_event_type(event_type: str, mapping: Mapping[str, str] | None = None) -> int:
  """0 (tectonic) or 1 (non-tectonic) for a QuakeML event type.

  Args:
    event_type: the type as written by the catalog or records table (case and
      surrounding spaces are ignored).
    mapping: explicit extra decisions, type -> a known QuakeML type or '0'/'1'
      (e.g. {'nuclear explosion (DPRK)': 'nuclear explosion'}).

  Returns:
    The label (``ganet_jax.conventions``).

  Raises:
    RecordRejected: naming the type when it is neither known nor mapped.

  Examples:
    >>> label_for_event_type('earthquake'), label_for_event_type(' Quarry Blast ')
    (0, 1)
    >>> label_for_event_type('nuclear explosion (DPRK)', {'nuclear explosion (DPRK)': 'nuclear explosion'})
    1
  """
  key = event_type.strip().lower()
  mapping = {k.strip().lower(): v.strip().lower() for k, v in (mapping or {}).items()}
  key = mapping.get(key, key)
  if key in ('0', '1'):
    return int(key)
  if key in TECTONIC_TYPES:
    return conventions.TECTONIC
  if key in NON_TECTONIC_TYPES:
    return conventions.NON_TECTONIC
  raise RecordRejected(f'event type {event_type!r} is neither tectonic (earthquake) nor a known '
                       f'non-tectonic type; map it with --event_type_map="{event_type}=<type or 0/1>"')


def parse_mapping(text: str) -> dict[str, str]:
  """'a=b;c=d' (or comma separated) -> {'a': 'b', 'c': 'd'}.

  Raises:
    ValueError: naming the entry without '='.
  """
  entries = [e for e in text.replace(';', ',').split(',') if e.strip()]
  out = {}
  for entry in entries:
    if '=' not in entry:
      raise ValueError(f'mapping entry {entry!r} needs the form name=value')
    key, value = entry.split('=', 1)
    out[key.strip()] = value.strip()
  return out
