"""SeisBench-format sets written with h5py, in the layout published sets use.

A set is a folder of chunks: ``metadata{chunk}.csv`` (one row per trace) and
``waveforms{chunk}.hdf5`` (the samples under ``data/``, the declared layout under
``data_format/``), plus a ``chunks`` file listing the chunk names. The unchunked
form is the chunk ''. Traces of one shape are stacked into buckets and addressed
as ``bucket3$0,:3,:15001`` (dataset ``bucket3``, trace 0), as PNW, STEAD and
INSTANCE are.

``write_chunk`` writes given rows and arrays (tests build odd sets with it);
``write_synthetic_set`` writes N traces shaped like PNW's (3 x 15001 samples at
100 Hz, components E, N, Z, P at about 50 s, the five PNW source types), whose
classes differ in frequency content, for benchmarks of preparation at scale.
"""

from __future__ import annotations

import csv
import pathlib
from typing import Mapping, Sequence

import h5py
import numpy as np

# PNW and PNWExotic source types, with shares like the published sets' (mostly earthquakes).
PNW_SOURCE_TYPES = ('earthquake', 'explosion', 'surface event', 'sonic boom', 'thunder')
PNW_SOURCE_SHARES = (0.6, 0.25, 0.1, 0.03, 0.02)
# Dominant frequency band (Hz) of each type's synthetic signal: what a classifier can learn.
SIGNAL_BANDS = {'earthquake': (6.0, 14.0), 'explosion': (1.0, 3.5), 'surface event': (0.5, 2.0),
                'sonic boom': (8.0, 20.0), 'thunder': (10.0, 25.0)}
TRACES_PER_EVENT = 3  # stations per synthetic event
SYNTHETIC_COLUMNS = ('trace_name', 'source_id', 'source_origin_time', 'source_type', 'source_latitude_deg',
                     'source_longitude_deg', 'source_depth_km', 'source_magnitude', 'station_network_code',
                     'station_code', 'station_location_code', 'trace_channel', 'trace_start_time',
                     'trace_sampling_rate_hz', 'trace_P_arrival_sample', 'path_ep_distance_km')


def write_chunk(folder: str | pathlib.Path, chunk: str, rows: Sequence[Mapping[str, object]],
                waveforms: Sequence[np.ndarray], *, bucket_size: int = 0,
                data_format: Mapping[str, object] | None = None,
                columns: Sequence[str] | None = None) -> list[str]:
  """Writes ``metadata{chunk}.csv`` and ``waveforms{chunk}.hdf5`` in ``folder``.

  Args:
    folder: the set's folder (created if needed).
    chunk: the chunk name; '' writes the unchunked ``metadata.csv`` + ``waveforms.hdf5``.
    rows: one metadata row per trace; a row's own ``trace_name`` is kept, else one is given.
    waveforms: one array per row, as stored (e.g. (C, W) for dimension order 'CW').
    bucket_size: traces per bucket (consecutive traces of one shape); 0 stores each trace
      as its own dataset named ``trace{i}``.
    data_format: entries of the ``data_format`` group (e.g. component_order, dimension_order,
      sampling_rate); none written when None.
    columns: the metadata header (default: the rows' keys, trace_name first).

  Returns:
    The trace names, in row order.
  """
  folder = pathlib.Path(folder)
  folder.mkdir(parents=True, exist_ok=True)
  names = _trace_names(waveforms, bucket_size)
  with h5py.File(folder / f'waveforms{chunk}.hdf5', 'w') as hdf5:
    for key, value in (data_format or {}).items():
      hdf5[f'data_format/{key}'] = value
    data = hdf5.create_group('data')
    for dataset, members in _buckets(names).items():
      arrays = [np.asarray(waveforms[i]) for i in members]
      data[dataset] = np.stack(arrays) if bucket_size else arrays[0]
  rows = [{**row, 'trace_name': row.get('trace_name') or name} for row, name in zip(rows, names)]
  header = list(columns) if columns is not None else ['trace_name'] + [
      key for key in dict.fromkeys(k for row in rows for k in row) if key != 'trace_name']
  with open(folder / f'metadata{chunk}.csv', 'w', newline='') as f:
    writer = csv.DictWriter(f, fieldnames=header, extrasaction='ignore')
    writer.writeheader()
    writer.writerows(rows)
  return [row['trace_name'] for row in rows]


def _trace_names(waveforms: Sequence[np.ndarray], bucket_size: int) -> list[str]:
  """``bucket{k}${i},:{C},:{W}`` names (a new bucket when full or when the shape changes)."""
  if not bucket_size:
    return [f'trace{i}' for i in range(len(waveforms))]
  names, bucket, position, shape = [], -1, bucket_size, None
  for array in waveforms:
    array = np.asarray(array)
    if position == bucket_size or array.shape != shape:
      bucket, position, shape = bucket + 1, 0, array.shape
    names.append(f'bucket{bucket}${position},' + ','.join(f':{n}' for n in shape))
    position += 1
  return names


def _buckets(names: Sequence[str]) -> dict[str, list[int]]:
  """{dataset name: row positions stored in it} of ``_trace_names``' names."""
  buckets: dict[str, list[int]] = {}
  for i, name in enumerate(names):
    buckets.setdefault(name.split('$')[0], []).append(i)
  return buckets


def write_chunks_file(folder: str | pathlib.Path, chunks: Sequence[str]) -> None:
  """The ``chunks`` file: one chunk name a line."""
  pathlib.Path(folder, 'chunks').write_text(''.join(f'{chunk}\n' for chunk in chunks))


def synthetic_trace(rng: np.random.Generator, source_type: str, *, samples: int = 15001, rate: float = 100.0,
                    p_sample: int = 5000) -> np.ndarray:
  """(3, samples) float32 E, N, Z: white noise, then from ``p_sample`` a decaying sum of three
  sinusoids in the type's ``SIGNAL_BANDS`` band (random phase per component)."""
  low, high = SIGNAL_BANDS[source_type]
  t = np.arange(samples - p_sample) / rate
  envelope = 5.0 * np.exp(-t / rng.uniform(5.0, 20.0))
  frequencies = rng.uniform(low, high, size=3)
  phases = rng.uniform(0, 2 * np.pi, size=(3, 3, 1))
  signal = envelope * np.sin(2 * np.pi * frequencies[None, :, None] * t + phases).sum(axis=1)
  trace = rng.normal(scale=0.2, size=(3, samples))
  trace[:, p_sample:] += signal
  return trace.astype(np.float32)


def write_synthetic_set(folder: str | pathlib.Path, n_traces: int, *, chunks: int = 4, bucket_size: int = 100,
                        seed: int = 0, samples: int = 15001, rate: float = 100.0,
                        source_types: Sequence[str] = PNW_SOURCE_TYPES,
                        shares: Sequence[float] = PNW_SOURCE_SHARES,
                        years: tuple[int, int] = (2002, 2022), chunks_file: bool = True) -> list[str]:
  """A SeisBench set of ``n_traces`` synthetic traces in PNW's layout.

  Args:
    folder: where to write it.
    n_traces: traces in all (``TRACES_PER_EVENT`` stations per event), spread evenly over
      the chunks in row order.
    chunks: number of chunks; 0 writes the unchunked form.
    bucket_size: traces per HDF5 bucket.
    seed: everything derives from it.
    samples, rate: samples per trace and their rate (declared in ``data_format``).
    source_types, shares: the types drawn and their probabilities.
    years: origin times are spread uniformly over [first, last) years, in row order.
    chunks_file: also write the ``chunks`` file (readers otherwise find the chunks by name).

  Returns:
    The chunk names.
  """
  rng = np.random.default_rng(seed)
  names = [''] if chunks == 0 else [f'_{k}' for k in range(chunks)]
  shares = np.asarray(shares, np.float64) / np.sum(shares)
  n_events = (n_traces + TRACES_PER_EVENT - 1) // TRACES_PER_EVENT
  types = rng.choice(len(source_types), size=n_events, p=shares)
  first = np.datetime64(f'{years[0]}-01-01T00:00:00', 's')
  span = (np.datetime64(f'{years[1]}-01-01T00:00:00', 's') - first).astype(np.int64)
  origins = first + np.sort(rng.integers(0, span, size=n_events)).astype('timedelta64[s]')
  bounds = np.linspace(0, n_traces, len(names) + 1).astype(int)
  for chunk, start, stop in zip(names, bounds[:-1], bounds[1:]):
    rows, waveforms = [], []
    for i in range(start, stop):
      event = i // TRACES_PER_EVENT
      source_type, origin = source_types[types[event]], origins[event]
      p_sample = int(rng.integers(int(45 * rate), int(55 * rate)))
      rows.append({'source_id': f'ev{event}', 'source_origin_time': f'{origin}',
                   'source_type': source_type, 'source_latitude_deg': f'{rng.uniform(45, 49):.4f}',
                   'source_longitude_deg': f'{rng.uniform(-124, -120):.4f}',
                   'source_depth_km': f'{rng.uniform(0, 20):.2f}', 'source_magnitude': f'{rng.uniform(1, 4):.2f}',
                   'station_network_code': 'UW', 'station_code': f'S{i % TRACES_PER_EVENT}', 'station_location_code': '',
                   'trace_channel': 'HH', 'trace_start_time': f'{origin - np.timedelta64(5, "s")}',
                   'trace_sampling_rate_hz': f'{rate:g}', 'trace_P_arrival_sample': str(p_sample),
                   'path_ep_distance_km': f'{rng.uniform(5, 150):.2f}'})
      waveforms.append(synthetic_trace(rng, source_type, samples=samples, rate=rate, p_sample=p_sample))
    write_chunk(folder, chunk, rows, waveforms, bucket_size=bucket_size, columns=SYNTHETIC_COLUMNS,
                data_format={'component_order': 'ENZ', 'dimension_order': 'CW', 'sampling_rate': rate})
  if chunks_file and chunks:
    write_chunks_file(folder, names)
  return names
