"""Duplicate checks: an input record listed twice is prepared once, the repeat rejected."""

from __future__ import annotations

from ganet_jax.data.records_table import InputRecord
from ganet_jax.errors import RecordRejected


class DuplicateCheck:
  """Rejects an input record listed twice, so no record (or event) is counted twice downstream."""

  def __init__(self):
    self._files: dict[tuple[str, ...], str] = {}
    self._record_ids: dict[str, str] = {}

  def check_files(self, record: InputRecord) -> None:
    """Rejects a record whose files are those of an earlier record (a duplicated table row).

    Raises:
      RecordRejected: naming the earlier record.
    """
    key = tuple(sorted(str(path.resolve()) for path in record.files))
    if key in self._files:
      raise RecordRejected(f'duplicate: the same file(s) as an earlier record ({self._files[key]}) listed again')
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
