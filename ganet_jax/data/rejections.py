"""Rejection reasons: a record's reason and report line, and reasons grouped by kind for a summary."""

from __future__ import annotations

import re
from typing import Iterable, Mapping, NamedTuple

from ganet_jax.data.records_table import InputRecord
from ganet_jax.errors import RecordRejected


def rejection_reason(error: Exception) -> str:
  """A rejection report's reason for ``error``: a ``RecordRejected``'s own words, else its type and message."""
  return str(error) if isinstance(error, RecordRejected) else f'{type(error).__name__}: {error}'


def rejection_line(record: InputRecord, reason: str) -> dict[str, str]:
  """The rejection report's row for ``record``: {source, record, file, reason}."""
  name = record.files[0].stem if len(record.files) == 1 else f'{record.files[0].stem} +{len(record.files) - 1} files'
  return {'source': record.source, 'record': name, 'file': record.file_names, 'reason': reason}


class ReasonKind(NamedTuple):
  """Rejections of one kind: the reason without its numbers and names, how many, and one real reason."""
  kind: str
  count: int
  example: str


def reason_kinds(rejected: Iterable[Mapping[str, str]]) -> list[ReasonKind]:
  """Rejections grouped by kind of reason (``reason_kind``), most frequent first, each with its first reason.

  Examples:
    >>> kinds = reason_kinds([{'reason': 'record too short: 30 s'}, {'reason': 'record too short: 12 s'},
    ...                       {'reason': 'all channels flat (zero variance)'}])
    >>> [(kind.kind, kind.count) for kind in kinds], kinds[0].example
    ([('record too short: # s', 2), ('all channels flat (zero variance)', 1)], 'record too short: 30 s')
  """
  groups: dict[str, list[str]] = {}
  for line in rejected:
    groups.setdefault(reason_kind(line['reason']), []).append(line['reason'])
  kinds = [ReasonKind(kind, len(reasons), reasons[0]) for kind, reasons in groups.items()]
  return sorted(kinds, key=lambda k: -k.count)


def reason_kind(reason: str) -> str:
  """A reason's category: its first clause without notes, trace id, numbers or times.

  Examples:
    >>> reason_kind('UW.X..LHZ: sampling rate 1 Hz < 20 Hz [kept UW.X.00.LHZ]')
    'sampling rate # Hz < # Hz'
  """
  first_clause = reason.split(' [')[0].split(' | ')[0]
  text = re.sub(r'^[\w\-]*\.[\w\-]*\.[\w\-]*\.[\w\-]*: ', '', first_clause)
  return re.sub(r'[-+]?\d[\d.:\-TZ]*', '#', text).strip()
