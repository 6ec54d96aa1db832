"""``obspy.read`` of one local file, without its per-call plugin lookup.

For every file ``obspy.read`` finds the format plugins' functions through package
metadata, which parses a METADATA file per lookup: on a record of a few seconds
of samples that costs more than reading it. ``read_file`` walks the same plugins
in ObsPy's order with the functions found once, calls the first reader whose
format check accepts the file with the arguments ``obspy.read`` passes, and sets
``stats._format`` as it does, so the traces are the same. Anything else ObsPy's
reader handles specially (archives and compressed files, glob patterns, a file no
plugin takes, an empty result) goes to ``obspy.read`` itself.
"""

from __future__ import annotations

import functools
import glob
import pathlib
import tarfile
import zipfile
from typing import Callable

import obspy
from obspy.core.util.base import ENTRY_POINTS
from obspy.core.util.misc import buffered_load_entry_point

COMPRESSION_MAGIC = (b'\x1f\x8b', b'BZh', b'\xfd7zXZ\x00')  # gzip, bzip2, xz: the compressed tars tarfile reads


@functools.lru_cache(maxsize=None)
def _plugins() -> tuple[tuple[str, Callable[[str], Callable]], ...]:
  """(format, loader of one of its functions by name), in ObsPy's detection order.

  The plugin's distribution name is read once here; the functions are imported
  on first use (ObsPy's cache), as ObsPy imports them.
  """
  plugins = []
  for name, entry_point in ENTRY_POINTS['waveform'].items():
    loader = functools.partial(buffered_load_entry_point, entry_point.dist.name, f'obspy.plugin.waveform.{name}')
    plugins.append((name, loader))
  return tuple(plugins)


def _needs_obspy(path: str) -> bool:
  """Whether ObsPy's reader would treat the path specially: a glob pattern, an archive or a compressed file.

  ``tarfile.is_tarfile`` (ObsPy's test) tries each compression in turn; a file that
  starts with none of their magic numbers is a tar archive only if it opens as a plain one.
  """
  if glob.has_magic(path) or path.endswith(('.bz2', '.gz')) or zipfile.is_zipfile(path):
    return True
  with open(path, 'rb') as f:
    if f.read(6).startswith(COMPRESSION_MAGIC):
      return True
  try:
    tarfile.open(path, 'r:').close()
  except tarfile.TarError:
    return False
  return True


def read_file(path: str | pathlib.Path) -> obspy.Stream:
  """``obspy.read(path)`` of one existing local file.

  Raises:
    What ``obspy.read`` raises for the file (its reader's errors, unknown format, no data).
  """
  path = str(path)
  if _needs_obspy(path):
    return obspy.read(path)
  for name, load in _plugins():
    if load('isFormat')(path):
      stream = load('readFormat')(path, headonly=False, starttime=None, endtime=None, nearest_sample=True)
      if not len(stream):
        break
      for trace in stream:
        trace.stats._format = name
      return stream
  return obspy.read(path)
