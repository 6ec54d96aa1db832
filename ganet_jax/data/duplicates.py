"""Duplicate checks: an input record listed twice is prepared once, the repeat rejected.

A record is its files *and* what of them it takes: one continuous file may hold
several events and several stations, each row its own window. Two records are one
when they name the same files, the same station and sensor, and the same window
(event id, origin time or P time); only then is the later one a repeat.
"""

from __future__ import annotations

from ganet_jax.data import rejections
from ganet_jax.data.records_table import InputRecord
from ganet_jax.errors import RecordRejected

# The fields of a row that select traces of its files (station, sensor) and a window of them (event, time).
SELECTING_FIELDS = ('network', 'station', 'location', 'event_id', 'origin_time', 'p_time')


def record_key(record: InputRecord) -> tuple:
  """What a record reads: its files, and the station, sensor and window its rows select of them."""
  files = tuple(sorted(str(path.resolve()) for path in record.files))
  selection = tuple(record.field(name) for name in SELECTING_FIELDS)
  bands = tuple(sorted({row.get('channel', '')[:-1] for row in record.rows}))
  return files, selection, bands


class DuplicateCheck:
  """Rejects an input record listed twice, so no record (or event) is counted twice downstream."""

  def __init__(self):
    self._files: dict[tuple, str] = {}
    self._record_ids: dict[str, str] = {}

  def file_duplicate(self, record: InputRecord) -> str | None:
    """The rejection reason of a record that reads what an earlier record read (``check_files``), else None."""
    try:
      self.check_files(record)
    except Exception as error:  # a path that cannot be resolved is that record's reason too
      return rejections.rejection_reason(error)
    return None

  def check_files(self, record: InputRecord) -> None:
    """Rejects a record that reads what an earlier record reads (``record_key``: a duplicated table row).

    Raises:
      RecordRejected: naming the earlier record.
    """
    key = record_key(record)
    if key in self._files:
      raise RecordRejected(f'duplicate: the same file(s), station and window as an earlier record '
                           f'({self._files[key]}) listed again')
    self._files[key] = record.file_names

  def check_record_id(self, record: InputRecord, record_id: str) -> None:
    """Rejects a second accepted record of one event, station and channel (other files, same recording).

    Raises:
      RecordRejected: naming the record id and the earlier record's files.
    """
    if record_id in self._record_ids:
      raise RecordRejected(f'duplicate record_id {record_id}: the same event, station and channel as '
                           f'{self._record_ids[record_id]}')
    self._record_ids[record_id] = record.file_names

  def has_record_id(self, record_id: str) -> bool:
    """Whether a record of ``record_id`` was accepted before (``check_record_id``, ``remember_record_id``)."""
    return record_id in self._record_ids

  def remember_record_id(self, record_id: str, file_names: str) -> None:
    """Counts ``record_id`` (of the record reading ``file_names``) as accepted, e.g. from a finished shard."""
    self._record_ids.setdefault(record_id, file_names)
