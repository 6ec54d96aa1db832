"""SeisBench-format datasets (metadata.csv + waveforms.hdf5) read with h5py alone.

The format: ``metadata.csv`` has one row per trace; ``trace_name`` locates the
samples in ``waveforms.hdf5`` under ``data/``, either as a dataset name or, for
bucketed datasets, as ``'bucket3$0,:3,:12000'`` (dataset ``bucket3``, index
``[0, :3, :12000]``). The HDF5 ``data_format`` group holds ``component_order``
('ZNE' by default; a ``trace_component_order`` column overrides it per trace) and
``dimension_order`` ('CW' channels x samples by default, or 'WC'). P arrivals are sample indices under
``trace_p_arrival_sample`` or ``trace_P_arrival_sample``. Labels come from
``source_type`` (QuakeML types) or, failing that, ``trace_category`` whose first
word is taken as the type ('earthquake_local' -> 'earthquake'). The ``split``
column is kept in ``extra['split']``. Windows go through the same preprocessing
as files (``preprocess``): resampling, P window, detrend, standardisation, ZNE.
"""

from __future__ import annotations

import csv
import pathlib
import re
from typing import Callable, Mapping

import h5py
import numpy as np
import obspy

from ganet_jax.data import ingest
from ganet_jax.data import labels as labels_lib
from ganet_jax.data import preprocess
from ganet_jax.data import record_event
from ganet_jax.data import rejections
from ganet_jax.data import window as window_lib
from ganet_jax.data.preprocess import PreprocessConfig
from ganet_jax.errors import RecordRejected

P_ARRIVAL_COLUMNS = ('trace_p_arrival_sample', 'trace_P_arrival_sample')
_BUCKET = re.compile(r'^(?P<bucket>[^$]+)\$(?P<index>.+)$')


def parse_trace_name(trace_name: str) -> tuple[str, tuple]:
  """'bucket3$0,:3,:12000' -> ('bucket3', (0, slice(None, 3), slice(None, 12000))); 'name' -> ('name', ())."""
  match = _BUCKET.match(trace_name)
  if not match:
    return trace_name, ()
  index = []
  for part in match['index'].split(','):
    part = part.strip()
    if ':' in part:
      start, stop = (int(p) if p else None for p in part.split(':', 1))
      index.append(slice(start, stop))
    else:
      index.append(int(part))
  return match['bucket'], tuple(index)


def data_format(hdf5: h5py.File, name: str, default: str) -> str:
  """A ``data_format`` entry (dataset or attribute, SeisBench writes datasets) as text."""
  group = hdf5.get('data_format')
  for source in (group if group is not None else {}, group.attrs if group is not None else {}, hdf5.attrs):
    if name in source:
      value = source[name]
      value = value[()] if isinstance(value, h5py.Dataset) else value
      return value.decode() if isinstance(value, bytes) else str(value)
  return default


def _label(row: Mapping[str, str], type_map: Mapping[str, str]) -> tuple[int, str]:
  event_type = row.get('source_type', '')
  if not event_type and row.get('trace_category'):
    event_type = row['trace_category'].split('_')[0]
  if not event_type:
    raise RecordRejected('no source_type or trace_category')
  return labels_lib.label_for_event_type(event_type, type_map), event_type


def _p_sample(row: Mapping[str, str]) -> float:
  for column in P_ARRIVAL_COLUMNS:
    value = record_event.parse_float(row.get(column, ''))
    if value is not None:
      return value
  raise RecordRejected(f'no P arrival ({" / ".join(P_ARRIVAL_COLUMNS)})')


def window_from_array(data: np.ndarray, order: str, rate: float, p_sample: float,
                      config: PreprocessConfig) -> tuple[np.ndarray, str, float]:
  """(window_samples, 3) ZNE window, components present, padded seconds for a (C, W) trace.

  Raises:
    RecordRejected: bad channels, non-finite samples, low rate, short record.
  """
  if data.ndim != 2 or data.shape[0] != len(order):
    raise RecordRejected(f'waveform shape {data.shape} does not match component order {order!r}')
  if not np.all(np.isfinite(data)):
    raise RecordRejected(f'{int(np.sum(~np.isfinite(data)))} NaN/inf samples')
  arrays = {}
  for letter, samples in zip(order, data):
    slot = preprocess.component_slot(letter)
    if slot is not None:
      trace = obspy.Trace(np.asarray(samples, np.float64), header={'sampling_rate': rate})
      arrays[slot] = preprocess.resample(trace, config.sampling_rate, config.min_sampling_rate).data
  if not arrays:
    raise RecordRejected(f'no usable channel in component order {order!r}')
  start = obspy.UTCDateTime(0)
  assembled = window_lib.assemble_window(arrays, start, start + p_sample / rate, config)
  if not assembled.present:
    raise RecordRejected(f'no usable channel in component order {order!r}')
  return assembled.window, assembled.present, assembled.padded_s(config)


def read_dataset(path: str | pathlib.Path, *, split: str | None = None,
                 event_type_map: Mapping[str, str] | None = None,
                 config: PreprocessConfig = PreprocessConfig(),
                 progress: Callable[[int, int, int], None] | None = None):
  """Windows of a SeisBench-format dataset folder.

  Args:
    path: folder with metadata.csv and waveforms.hdf5.
    split: keep only rows whose ``split`` is this (others are not input, not rejected).
    event_type_map: extra event type decisions (``labels.label_for_event_type``).
    config: preprocessing parameters (the distance limit applies to
      ``path_ep_distance_km`` when present).
    progress: called as ``progress(done, accepted, rejected)`` after each row.

  Returns:
    (RecordSet or None, rejection lines {record, file, reason}); the split is
    kept in ``extra['split']``.

  Raises:
    FileNotFoundError: naming a missing metadata.csv or waveforms.hdf5.
    ValueError: naming an unreadable metadata.csv or a corrupt waveforms.hdf5.
  """
  path = pathlib.Path(path)
  for name in ('metadata.csv', 'waveforms.hdf5'):
    if not (path / name).is_file():
      raise FileNotFoundError(f'{path / name}: missing; a SeisBench dataset has metadata.csv and waveforms.hdf5')
  try:
    with open(path / 'metadata.csv', newline='', encoding='utf-8-sig') as f:
      rows = [row for row in csv.DictReader(f) if split is None or row.get('split') == split]
  except (ValueError, csv.Error) as error:
    raise ValueError(f'{path / "metadata.csv"}: not a readable CSV table ({error})') from None
  prepared, rejected = [], []
  try:
    hdf5 = h5py.File(path / 'waveforms.hdf5', 'r')
  except OSError as error:
    raise ValueError(f'{path / "waveforms.hdf5"}: not an HDF5 file h5py can open ({error})') from None
  with hdf5:
    default_order = data_format(hdf5, 'component_order', 'ZNE')  # SeisBench's own default, not ours
    channels_first = data_format(hdf5, 'dimension_order', 'CW').upper().endswith('CW')
    first_row = {}
    for number, row in enumerate(rows):
      name = row.get('trace_name', f'row {number}')
      try:
        if first_row.setdefault(name, number) != number:
          raise RecordRejected(f'duplicate: trace {name} is also metadata row {first_row[name]}')
        prepared.append(_prepare_row(hdf5, row, default_order, channels_first, event_type_map or {}, config))
      except Exception as error:  # one bad trace is a rejection line, not a crash
        rejected.append({'record': name, 'file': str(path / 'waveforms.hdf5'),
                         'reason': rejections.rejection_reason(error)})
      if progress:
        progress(number + 1, len(prepared), len(rejected))
  return ingest.to_record_set(prepared), rejected


def _prepare_row(hdf5: h5py.File, row: Mapping[str, str], default_order: str, channels_first: bool,
                 type_map: Mapping[str, str], config: PreprocessConfig) -> ingest.PreparedRecord:
  label, event_type = _label(row, type_map)
  distance = record_event.parse_float(row.get('path_ep_distance_km', ''))
  preprocess.check_distance(distance, config.max_distance_km)
  bucket, index = parse_trace_name(row['trace_name'])
  if f'data/{bucket}' not in hdf5:
    raise RecordRejected(f'trace {bucket!r} not in waveforms.hdf5/data')
  data = np.asarray(hdf5['data'][bucket][index] if index else hdf5['data'][bucket][()], np.float64)
  data = data if channels_first else data.T
  order = row.get('trace_component_order') or default_order
  rate = record_event.parse_float(row.get('trace_sampling_rate_hz', ''))
  if rate is None:
    raise RecordRejected('no trace_sampling_rate_hz')
  p_sample = _p_sample(row)
  window, present, padded = window_from_array(data, order, rate, p_sample, config)
  origin_text = row.get('source_origin_time', '')
  origin = obspy.UTCDateTime(origin_text) if origin_text else obspy.UTCDateTime(0)
  event_id = row.get('source_id') or origin_text or row['trace_name']
  extra = {column: '' for column in ingest.MANIFEST_COLUMNS}
  extra.update({'file': row['trace_name'], 'network': row.get('station_network_code', ''),
                'station': row.get('station_code', ''), 'location': row.get('station_location_code', ''),
                'channels': order, 'p_onset': f'sample {p_sample:g}', 'p_method': 'seisbench',
                'distance_km': '' if distance is None else f'{distance:.2f}', 'channels_present': present,
                'sampling_rate_in': f'{rate:g}', 'padded_s': f'{padded:.2f}',
                'bandpass': config.bandpass_label, 'notes': '' if origin_text else 'no source_origin_time',
                'split': row.get('split', '')})
  return ingest.PreparedRecord(window=window, label=label, event_id=event_id, event_type=event_type,
                               origin_time=origin, record_id=row['trace_name'], extra=extra)
