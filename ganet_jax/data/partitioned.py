"""Preparation split into fixed partitions of records, run on all cores or a Dask cluster (``parallel``).

Each partition's records are prepared by a pure function in a worker process
(``prepare_partition``); the outcomes come back in input order and are merged
there (``ingest.merge_outcomes``), where the checks that span partitions (a file
or a recording listed twice) are made. The result is the one ``ingest.prepare_or_reject``
gives in one process, whatever the number of workers or the scheduler.
"""

from __future__ import annotations

from typing import Callable, Iterator, Sequence

import distributed

from ganet_jax.data import duplicates as duplicates_lib
from ganet_jax.data import ingest
from ganet_jax.data import parallel
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
