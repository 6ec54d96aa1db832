"""A record's traces read from its files with ObsPy; an unreadable file is a note, not a crash."""

from __future__ import annotations

import warnings

import obspy

from ganet_jax.data import file_checks
from ganet_jax.data import grouping
from ganet_jax.data import waveform_files
from ganet_jax.data.records_table import InputRecord
from ganet_jax.errors import RecordRejected


def read_streams(record: InputRecord) -> tuple[obspy.Stream, list[str]]:
  """The record's traces of its files, and a note per file unreadable or read with a warning.

  Of a file holding several stations only the traces of its row's station are
  kept (``grouping.select_traces``).

  Raises:
    RecordRejected: when no file gives a trace (reasons of each file joined), or
      a file holds several stations and nothing names the record's.
  """
  stream, problems = obspy.Stream(), []
  for path, row in zip(record.files, record.rows):
    try:
      problem = file_checks.regular_file_problem(path)
      if problem:  # a FIFO or device would block or never end the read
        raise FileNotFoundError(problem)
      with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        read = waveform_files.read_file(path)
      # ObsPy reports a truncated MiniSEED file as a warning and returns what it read.
      problems += [f'{path.name}: {w.category.__name__}: {str(w.message)[:160]}' for w in caught]
      if not len(read) or all(tr.stats.npts == 0 for tr in read):
        raise ValueError('no samples')
      stream += grouping.select_traces(read, row, path.name)
    except RecordRejected:
      raise
    except Exception as error:  # a corrupt file is a reason, not a crash
      problems.append(f'{path.name}: unreadable ({type(error).__name__}: {str(error)[:120]})')
  if not len(stream):
    raise RecordRejected(' | '.join(problems) or 'no files')
  return stream, problems
