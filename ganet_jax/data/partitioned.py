"""Preparation split into fixed partitions of records, run on all cores or a Dask cluster (``parallel``).

Each partition's records (input records, or rows of a SeisBench set) are prepared by
a pure function in a worker process (``prepare_partition``, ``seisbench.read_partition``);
the outcomes come back in input order and are merged here, where the checks that
span partitions (a file, a recording or a trace listed twice) are made. The result is
the one preparing in one process gives (``ingest.prepare_or_reject``,
``seisbench.read_dataset``), whatever the number of workers or the scheduler.
"""

from __future__ import annotations

import pathlib
from typing import Callable, Iterator, Sequence

import distributed

from ganet_jax.data import duplicates as duplicates_lib
from ganet_jax.data import ingest
from ganet_jax.data import parallel
from ganet_jax.data import seisbench
from ganet_jax.data.records import RecordSet
from ganet_jax.data.records_table import InputRecord


def prepare_partition(records: Sequence[InputRecord | None], options: ingest.PrepareOptions) -> list[ingest.Outcome]:
  """Each record's outcome (its prepared record or rejection reason); None (a record not to prepare) stays None.

  Pure: it reads the records' files and nothing else, so it runs in any worker.
  """
  return [None if record is None else ingest.prepare_outcome(record, options) for record in records]


def prepare_or_reject_on(client: distributed.Client, records: Sequence[InputRecord], options: ingest.PrepareOptions,
                         *, keep: Callable = lambda record, prepared: prepared,
                         progress: Callable[[int, int, int], None] | None = None,
                         partition_size: int = parallel.DEFAULT_PARTITION_SIZE,
                         ) -> tuple[list, list[dict[str, str]]]:
  """``ingest.prepare_or_reject`` with the records prepared partition by partition on ``client``'s cluster.

  A record whose files an earlier record had is rejected before any partition is
  sent (it is not prepared, as in one process); the rest come back in input order.

  Args:
    client: the cluster (``parallel.cluster_client``).
    records: the input records.
    options: preprocessing, picking and labelling options, sent to the cluster once.
    keep, progress: as ``ingest.prepare_or_reject``'s, called in this process in input order.
    partition_size: records per partition.

  Returns:
    As ``ingest.prepare_or_reject``: (kept records, rejection lines), in input order.
  """
  records = list(records)
  duplicates = duplicates_lib.DuplicateCheck()
  repeated = [duplicates.file_duplicate(record) for record in records]
  to_prepare = [None if reason else record for record, reason in zip(records, repeated)]

  def outcomes() -> Iterator[tuple[InputRecord, ingest.Outcome]]:
    for part, results in parallel.map_partitions(prepare_partition, to_prepare, client,
                                                  partition_size=partition_size, shared=(options,),
                                                  name='prepare'):
      for index, outcome in zip(part, results):
        yield records[index], repeated[index] or outcome
  return ingest.merge_outcomes(outcomes(), duplicates, keep=keep, progress=progress)


def read_seisbench_on(client: distributed.Client, path: str | pathlib.Path, options: seisbench.ReadOptions, *,
                      chunks: Sequence[str] | None = None,
                      partition_size: int = parallel.DEFAULT_PARTITION_SIZE,
                      progress: Callable[[int, int, int], None] | None = None,
                      spool_path: str | pathlib.Path | None = None,
                      ) -> tuple[RecordSet | None, list[dict[str, str]]]:
  """``seisbench.read_dataset`` with the set's partitions read on ``client``'s cluster.

  Args:
    client: the cluster (``parallel.cluster_client``); its workers must see ``path``.
    path: the set's folder.
    options: split, event type map and preprocessing.
    chunks: read only these chunks (None: all).
    partition_size: metadata rows per partition (``seisbench.partitions``).
    progress: called as ``progress(done, accepted, rejected)`` after each row, in set order.
    spool_path: when given, windows go to this file as they come and the result's
      waveforms are a read-only memmap of it (``ingest.WindowSpool``).

  Returns:
    As ``seisbench.read_dataset``: (RecordSet or None, rejection lines {record, file, reason}).
  """
  parts = seisbench.partitions(path, chunks, partition_size)
  counts = {'done': 0, 'accepted': 0}

  def rows() -> Iterator[seisbench.RowResult]:
    for results in parallel.map_in_order(_read_partition, parts, client, shared=(str(path), options),
                                         name='seisbench'):
      for result in results:
        counts['done'] += 1
        counts['accepted'] += result.record is not None
        if progress:
          progress(counts['done'], counts['accepted'], counts['done'] - counts['accepted'])
        yield result
  with ingest.WindowSpool(spool_path, options.config) as spool:
    prepared, rejected = seisbench.merge_rows(rows(), keep=spool.keep)
  return ingest.to_record_set(prepared, spool.waveforms(len(prepared))), rejected


def _read_partition(partition: seisbench.Partition, path: str, options: seisbench.ReadOptions
                    ) -> list[seisbench.RowResult]:
  return seisbench.read_partition(path, partition, options)
