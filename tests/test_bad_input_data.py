"""Inputs that used to pass silently with wrong data: wrong event, mixed records, wrong trace.

Each test builds its input from copies of ../shared/data files (eus-sac: SAC headers
with origin, P arrival and coordinates; dprk: 3-component SAC records) and checks
that the record is either prepared from the right data or rejected with its reason.
"""

import csv
import dataclasses
import json
import os
import pathlib
import shutil

import numpy as np
import obspy
import pytest
from obspy.core.event import Catalog, Event, Origin, ResourceIdentifier

from ganet_jax.data import catalog as catalog_lib
from ganet_jax.data import ingest
from ganet_jax.data import record_checks
from ganet_jax.data import record_event
from ganet_jax.data import records_table
from ganet_jax.data import seisbench
from ganet_jax.data import seisbench_writer
from ganet_jax.data.records_table import InputRecord
from ganet_jax.data import splits
from ganet_jax.data.preprocess import PreprocessConfig
from ganet_jax.errors import RecordRejected
from conftest import write_table

EQ_BIRD = 'EQ/20170216020021.CO.BIRD.HHZ.SAC'
EQ_HAW = 'EQ/20170216020021.CO.HAW.HHZ.SAC'
EP_BIRD = 'EP/20150623030000.CO.BIRD.HHZ.SAC'
# Far stations are fine here: these tests are about which data a record holds.
NO_DISTANCE_LIMIT = ingest.PrepareOptions(preprocess=PreprocessConfig(max_distance_km=None, max_pad_s=40))



def _copy(shared_data, folder, name, new_name=None, **stats):
  """A copy of an eus-sac file in ``folder`` (SAC), with ``stats`` (e.g. channel) changed."""
  trace = obspy.read(str(shared_data / 'eus-sac' / name))[0]
  for key, value in stats.items():
    setattr(trace.stats, key, value)
  path = folder / (new_name or pathlib.Path(name).name)
  trace.write(str(path), format='SAC')
  return path


def _manifest(shared_data, name):
  with open(shared_data / 'eus-sac' / 'manifest.csv', newline='') as f:
    return next(r for r in csv.DictReader(f) if r['file'] == name)


def _sac_origin(path):
  trace = obspy.read(str(path), headonly=True)[0]
  return trace.stats.starttime - float(trace.stats.sac.b) + float(trace.stats.sac.o)


# Catalog ids are whole ids, and the event must fit the record's time.

def _catalog(tmp_path, origin):
  """Event 12: a quarry blast 35 days before ``origin``; event 2: an earthquake at ``origin``."""
  events = [Event(resource_id=ResourceIdentifier('smi:local/event/12'), event_type='quarry blast',
                  origins=[Origin(time=origin - 35 * 86400)]),
            Event(resource_id=ResourceIdentifier('smi:local/event/2'), event_type='earthquake',
                  origins=[Origin(time=origin)])]
  Catalog(events).write(str(tmp_path / 'catalog.xml'), format='QUAKEML')
  return catalog_lib.read_catalog(str(tmp_path / 'catalog.xml'))


def test_catalog_event_id_is_not_matched_by_its_suffix(shared_data, tmp_path):
  path = _copy(shared_data, tmp_path, EQ_BIRD)
  events = _catalog(tmp_path, _sac_origin(path))
  # Two tables: in one table, two ids with one origin would be refused (an ambiguous table).
  records = [records_table.read_records_table(write_table(tmp_path / f'{event_id}.csv', [
      {'file': path.name, 'event_id': event_id, 'label': ''}]))[0] for event_id in ('2', '12')]
  options = ingest.PrepareOptions(preprocess=NO_DISTANCE_LIMIT.preprocess, catalog=events)
  right = ingest.prepare_record(records[0], options)
  assert right.event_type == 'earthquake' and right.label == 0
  # Event 12 exists but happened 35 days before this record: a rejection naming both times.
  with pytest.raises(RecordRejected, match=r"event id '12' is catalog event smi:local/event/12 with origin "
                                           r'2017-01-12.* but the record gives origin 2017-02-16'):
    ingest.prepare_record(records[1], options)


def test_catalog_event_found_by_id_must_lie_inside_a_record_without_origin(shared_data, tmp_path):
  origin = _sac_origin(shared_data / 'eus-sac' / EQ_BIRD)
  events = _catalog(tmp_path, origin)
  span = (origin - 10, origin + 70)
  assert catalog_lib.find_event(events, '2', None, span).event_id == 'smi:local/event/2'
  assert catalog_lib.find_event(events, 'smi:local/event/2', None, span).event_id == 'smi:local/event/2'
  with pytest.raises(RecordRejected, match='outside the record'):
    catalog_lib.find_event(events, '12', None, span)
  assert catalog_lib.short_ids('quakeml:uw.anss.org/Event/UW/61348817') >= {'61348817', 'uw61348817'}
  assert '2' not in catalog_lib.short_ids('smi:local/event/12')


# Records hold one event: grouped by event first, with a tolerant origin rule.

def test_rows_of_two_events_at_one_station_are_two_records(shared_data, tmp_path):
  # The table has no event columns: the events come from the SAC o headers.
  quake = _copy(shared_data, tmp_path, EQ_BIRD)
  blast = _copy(shared_data, tmp_path, EP_BIRD, 'blast.HHN.SAC', channel='HHN')
  rows = [{'file': p.name, 'label': label, 'network': 'CO', 'station': 'BIRD', 'channel': channel}
          for p, label, channel in ((quake, '0', 'HHZ'), (blast, '1', 'HHN'))]
  records = records_table.read_records_table(write_table(tmp_path / 'files.csv', rows))
  assert [r.files for r in records] == [(quake,), (blast,)]
  prepared = [ingest.prepare_record(r, NO_DISTANCE_LIMIT) for r in records]
  assert [p.label for p in prepared] == [0, 1]
  assert [p.extra['channels_present'] for p in prepared] == ['Z', 'N']
  assert [str(p.origin_time)[:10] for p in prepared] == ['2017-02-16', '2015-06-23']


def test_float32_jitter_of_sac_origins_does_not_split_an_event(shared_data, tmp_path):
  # One explosion's SAC o headers give origins from 04:34:59.999996 to 04:35:00.000001.
  with open(shared_data / 'eus-sac' / 'manifest.csv', newline='') as f:
    rows = [r for r in csv.DictReader(f) if r['origin_time'].startswith('2015-06-23T04:3')]
  assert len({r['origin_time'] for r in rows}) > 1
  for row in rows:
    shutil.copy(shared_data / 'eus-sac' / row['file'], tmp_path / pathlib.Path(row['file']).name)
  table = write_table(tmp_path / 'files.csv', [{'file': pathlib.Path(r['file']).name, 'label': '1',
                                                 'network': r['network'], 'station': r['station'],
                                                 'channel': r['channel']} for r in rows])
  prepared, rejected = ingest.prepare_records(records_table.read_records_table(table), NO_DISTANCE_LIMIT)
  assert len(prepared) + len(rejected) == len(rows) and len(prepared) >= 2
  assert len(set(prepared.event_ids)) == 1 and len(set(prepared.origin_times)) == 1


def _pnw_like_rows():
  return [{'file': f'f{i}.mseed', 'event_id': event_id, 'origin_time': origin, 'label': '0',
           'station': f'S{i}', 'channel': 'HHZ'}
          for i, (event_id, origin) in enumerate([('uw1', '2020-01-01T00:00:00.0'), ('', '2020-01-01T00:00:00.4'),
                                                  ('', '2020-01-01T00:00:00.9'), ('uw2', '2020-01-02T00:00:00')])]


def test_a_blank_event_id_joins_the_event_of_its_origin(tmp_path):
  records = records_table.read_records_table(write_table(tmp_path / 't.csv', _pnw_like_rows()))
  assert [r.field('event_id') for r in records] == ['uw1', 'uw1', 'uw1', 'uw2']
  assert {r.field('origin_time') for r in records[:3]} == {'2020-01-01T00:00:00.0'}


@pytest.mark.parametrize('change, message', [
    ({3: {'origin_time': '2020-01-01T00:00:00.5'}}, r"event_ids 'uw1' \(row 1 \(f0.mseed\)\) and 'uw2' "
                                                    r'\(row 4 \(f3.mseed\)\) have origins'),
    ({1: {'event_id': 'uw1', 'origin_time': '2020-01-01T01:00:00'}}, r"event_id 'uw1' has origins .* \(row 1 "
                                                                      r'\(f0.mseed\)\) and .* \(row 2 \(f1.mseed\)\), '
                                                                      r'3600.0 s apart'),
    ({3: {'origin_time': '2020-01-01T00:00:01.8'}, 2: {'origin_time': '2020-01-01T00:00:00.9'}},
     r"row 3 \(f2.mseed\) has no event_id and its origin .* fits events 'uw1' and 'uw2'"),
])
def test_an_ambiguous_events_table_is_refused_naming_the_rows(tmp_path, change, message):
  rows = _pnw_like_rows()
  for index, values in change.items():
    rows[index].update(values)
  table = write_table(tmp_path / 't.csv', rows)
  with pytest.raises(ValueError, match=f't.csv: {message}') as caught:
    records_table.read_records_table(table)
  assert '\n' not in str(caught.value)


def test_three_component_folder_without_a_table_gives_one_record_per_station(shared_data, tmp_path):
  event = shared_data / 'dprk' / '2016.01.06.01.30.01'
  for path in sorted(event.glob('IC.BJT.*')) + sorted(event.glob('G.INU.*')):
    shutil.copy(path, tmp_path / path.name)
  files, _ = records_table.scan_folder(tmp_path)
  records = records_table.records_from_files(files)
  assert [sorted(f.name[-7:-4] for f in r.files) for r in records] == [['BHE', 'BHN', 'BHZ'], ['BH1', 'BH2', 'BHZ']]
  prepared, rejected = ingest.prepare_records(records, dataclasses.replace(NO_DISTANCE_LIMIT, unlabeled=True))
  assert not rejected and list(prepared.extra['station']) == ['INU', 'BJT']
  assert all(set(present) >= {'Z', 'N'} for present in prepared.extra['channels_present'])


# A file holding several stations gives the row's station or is refused.

def _two_station_file(shared_data, tmp_path, blank_second=False):
  stream = obspy.read(str(shared_data / 'eus-sac' / EQ_BIRD)) + obspy.read(str(shared_data / 'eus-sac' / EQ_HAW))
  for trace in stream:
    trace.data = trace.data.astype(np.float32)
    del trace.stats.sac
  if blank_second:
    stream[1].stats.station = ''
  path = tmp_path / ('blank.mseed' if blank_second else 'two.mseed')
  stream.write(str(path), format='MSEED')
  return path, stream


def test_the_rows_station_is_taken_from_a_file_of_several_stations(shared_data, tmp_path):
  path, stream = _two_station_file(shared_data, tmp_path)
  origin = str(_sac_origin(shared_data / 'eus-sac' / EQ_BIRD))
  rows = [{'file': path.name, 'label': '0', 'origin_time': origin, 'p_time': _manifest(shared_data, name)['p_arrival_time'],
           'network': 'CO', 'station': station, 'channel': 'HHZ'} for station, name in (('HAW', EQ_HAW), ('BIRD', EQ_BIRD))]
  records = records_table.read_records_table(write_table(tmp_path / 't.csv', rows))
  haw, bird = (ingest.prepare_record(r, NO_DISTANCE_LIMIT) for r in records)
  assert (haw.extra['station'], bird.extra['station']) == ('HAW', 'BIRD')
  alone = ingest.prepare_stream(stream.select(station='HAW'), NO_DISTANCE_LIMIT, origin_time=obspy.UTCDateTime(origin),
                                p_onset=obspy.UTCDateTime(rows[0]['p_time']), label='0')
  np.testing.assert_array_equal(haw.window, alone.window)
  missing = records_table.read_records_table(write_table(tmp_path / 'm.csv', [{**rows[0], 'station': 'WA18'}]))
  with pytest.raises(RecordRejected, match=r'two.mseed: no trace of CO.WA18.\*.HHZ \(the file holds CO.BIRD'):
    ingest.prepare_record(missing[0], NO_DISTANCE_LIMIT)


@pytest.mark.parametrize('blank_second', [False, True])
def test_a_file_of_several_stations_without_a_station_column_is_refused(shared_data, tmp_path, blank_second):
  path, stream = _two_station_file(shared_data, tmp_path, blank_second)
  origin = _sac_origin(shared_data / 'eus-sac' / EQ_BIRD)
  [record] = records_table.records_from_files([path])
  with pytest.raises(RecordRejected, match='holds 2 stations .* nothing names'):
    ingest.prepare_record(record, NO_DISTANCE_LIMIT)
  with pytest.raises(RecordRejected, match='the stream: holds 2 stations'):
    ingest.prepare_stream(stream, NO_DISTANCE_LIMIT, origin_time=origin, label='0')


def test_files_with_blank_station_codes_are_not_merged(shared_data, tmp_path):
  for name, channel in ((EQ_BIRD, 'HHZ'), (EQ_HAW, 'HHN')):
    _copy(shared_data, tmp_path, name, station='', channel=channel)
  files, _ = records_table.scan_folder(tmp_path)
  records = records_table.records_from_files(files)
  assert len(records) == 2 and all(len(r.files) == 1 for r in records)


# A model is not shown a record without the components it needs.

def test_a_record_without_the_models_components_is_not_classified(shared_data, tmp_path, tiny_run):
  from ganet_jax.classify import Classifier
  quake = _copy(shared_data, tmp_path, EQ_BIRD)
  horizontal = _copy(shared_data, tmp_path, EQ_HAW, 'haw.HHN.SAC', channel='HHN')
  rows = [{'file': p.name, 'network': 'CO', 'station': station, 'channel': channel}
          for p, station, channel in ((quake, 'BIRD', 'HHZ'), (horizontal, 'HAW', 'HHN'))]
  records = records_table.read_records_table(write_table(tmp_path / 'files.csv', rows), labelled=False)
  vertical_model = Classifier.from_checkpoint(tiny_run, components='Z', options=NO_DISTANCE_LIMIT)
  classified, unclassified = vertical_model.classify_records(records)
  assert [c.prepared.extra['station'] for c in classified] == ['BIRD']
  assert [u['record'] for u in unclassified] == ['haw.HHN']
  assert 'no signal in Z, which the model needs (it sees Z; the record carries N)' in unclassified[0]['reason']
  with pytest.raises(RecordRejected, match='no signal in Z'):
    vertical_model.classify_stream(obspy.read(str(horizontal)), origin_time=_sac_origin(horizontal))
  # A 3-component model takes the vertical alone (horizontals zero-filled, as in training).
  assert len(Classifier.from_checkpoint(tiny_run, options=NO_DISTANCE_LIMIT).classify_records(records[:1])[0]) == 1


@pytest.mark.parametrize('present, components, missing', [
    ('Z', 'Z', None), ('ZNE', 'Z', None), ('Z', 'ZNE', None), ('N', 'ZNE', 'Z'), ('', 'Z', 'Z'), ('N', 'NE', 'E')])
def test_required_components(present, components, missing):
  if missing is None:
    record_checks.require_components(present, components)
  else:
    with pytest.raises(RecordRejected, match=f'no signal in {missing},'):
      record_checks.require_components(present, components)


# Signal faults are kept but written in the manifest's notes.

def test_signal_faults_are_noted_in_the_manifest(shared_data, tmp_path):
  trace = obspy.read(str(shared_data / 'eus-sac' / EQ_BIRD))[0]
  row = _manifest(shared_data, EQ_BIRD)
  del trace.stats.sac
  counts = np.round(trace.data * 1000).astype(np.int32)
  level = int(np.abs(counts).max() * 0.5)
  trace.data = np.clip(counts, -level, level)  # clipped at half its peak
  middle = trace.stats.starttime + 40
  first, second = trace.slice(None, middle + 5).copy(), trace.slice(middle, None).copy()
  second.data = second.data.copy()
  second.data[:100] += 7  # the 5-s overlap disagrees
  obspy.Stream([first, second]).write(str(tmp_path / 'faulty.mseed'), format='MSEED')
  origin = obspy.UTCDateTime(row['origin_time'])
  table = write_table(tmp_path / 'faulty.csv', [{
      'file': 'faulty.mseed', 'label': '0', 'origin_time': str(origin), 'p_time': str(origin - 1),
      'distance_km': '-12.5', 'network': 'CO', 'station': 'BIRD', 'channel': 'HHZ'}])
  prepared, rejected = ingest.prepare_records(records_table.read_records_table(table), NO_DISTANCE_LIMIT)
  assert not rejected, rejected
  notes = prepared.extra['notes'][0]
  assert 'CO.BIRD.00.HHZ: clipped (' in notes and f'at {level} counts' in notes
  assert 'CO.BIRD.00.HHZ: overlapping segments disagree' in notes
  assert 'P onset' in notes and '1.00 s before the origin' in notes
  assert 'negative distance -12.5 km' in notes
  full = trace.copy()
  full.data = np.where(np.arange(len(full.data)) == 50, 2 ** 23 - 1, counts).astype(np.int32)
  assert record_checks.clipping_note(full) == 'CO.BIRD.00.HHZ: reaches full scale (8388607 counts)'
  assert record_checks.signal_notes({0: obspy.Stream([obspy.read(str(shared_data / 'eus-sac' / EQ_BIRD))[0]])}) == []


# SeisBench sets: a fault of the whole set is one error naming the file; a fault of a row is its rejection.

def _seisbench_set(path, rows=None, data_format=None, columns=None):
  rows = rows or [{'source_origin_time': '2020-01-01', 'source_type': 'earthquake', 'trace_P_arrival_sample': '100'}]
  traces = [np.random.default_rng(0).normal(size=(3, 1500)) for _ in rows]
  seisbench_writer.write_chunk(path, '', rows, traces, bucket_size=len(rows), columns=columns,
                               data_format=data_format if data_format is not None else {'sampling_rate': 100})


@pytest.mark.parametrize('layout, message', [
    ({'columns': ['source_type', 'source_origin_time']}, r'metadata.csv: no trace_name column \(columns: source_type'),
    ({'data_format': {'dimension_order': 'CWN?'}}, r"waveforms.hdf5: data_format/dimension_order 'CWN\?' is neither"),
    ({'data_format': {'sampling_rate': 'fast'}}, r"waveforms.hdf5: data_format/sampling_rate 'fast' is not a rate"),
])
def test_a_seisbench_set_with_a_bad_layout_is_one_error_naming_the_file(tmp_path, layout, message):
  _seisbench_set(tmp_path, **layout)
  with pytest.raises(ValueError, match=message):
    seisbench.read_dataset(tmp_path, config=PreprocessConfig(window_s=10))


@pytest.mark.parametrize('change, reason', [
    ({'trace_name': 'bucket0$0,:3,:x'}, "trace_name 'bucket0$0,:3,:x': the part after $ is not an index"),
    ({'trace_name': 'bucket0$7,:3,:1500'}, 'index outside bucket0 of shape (1, 3, 1500)'),
    ({'trace_name': 'nowhere$0'}, "trace 'nowhere' not in waveforms.hdf5/data"),
    ({'trace_name': ''}, 'no trace_name'),
])
def test_a_bad_seisbench_row_is_its_rejection(tmp_path, change, reason):
  _seisbench_set(tmp_path)
  rows = list(csv.DictReader(open(tmp_path / 'metadata.csv', newline='')))
  write_table(tmp_path / 'metadata.csv', rows + [{**rows[0], **change}])
  records, rejected = seisbench.read_dataset(tmp_path, config=PreprocessConfig(window_s=10))
  assert len(records) == 1 and len(rejected) == 1 and reason in rejected[0]['reason']


def test_a_seisbench_row_without_any_sampling_rate_is_rejected(tmp_path):
  _seisbench_set(tmp_path, data_format={})
  records, rejected = seisbench.read_dataset(tmp_path, config=PreprocessConfig(window_s=10))
  assert records is None and 'no sampling rate' in rejected[0]['reason']


def test_a_seisbench_set_keeps_no_pre_event_noise(tmp_path):
  _seisbench_set(tmp_path)
  with pytest.raises(ValueError, match=r'--noise_s=40: pre-event noise is kept for --format=obspy records only'):
    seisbench.read_dataset(tmp_path, config=PreprocessConfig(window_s=10, noise_s=40))


# ObsPy's forms of a record: masked (merged) streams, glitches, several sensors in one file.

PNW_BHW = 'waveforms/uw61348817_UW.BHW.EHZ.mseed'
UNLABELED = ingest.PrepareOptions(unlabeled=True)


def _pnw_trace(shared_data):
  """The pnw BHW record as float64 and its origin time."""
  with open(shared_data / 'pnw' / 'labels.csv', newline='') as f:
    row = next(r for r in csv.DictReader(f) if r['file'] == PNW_BHW)
  trace = obspy.read(str(shared_data / 'pnw' / PNW_BHW))[0]
  trace.data = trace.data.astype(np.float64)
  return trace, obspy.UTCDateTime(row['origin_time'])


@pytest.mark.parametrize('gap_s, refused', [(1.0, True), (0.05, False)])
def test_a_merged_streams_masked_gap_is_a_gap_not_data(shared_data, tmp_path, gap_s, refused):
  trace, origin = _pnw_trace(shared_data)
  first, second = trace.slice(None, origin + 20).copy(), trace.slice(origin + 20 + gap_s, None).copy()
  merged = obspy.Stream([first, second]).merge()  # the gap becomes masked samples over a fill value
  assert np.ma.isMaskedArray(merged[0].data)
  obspy.Stream([first, second]).write(str(tmp_path / 'gap.mseed'), format='MSEED')
  from_file = obspy.read(str(tmp_path / 'gap.mseed'))
  if refused:
    for stream in (merged, from_file):
      with pytest.raises(RecordRejected, match=r'gap of 0.99 s at .* inside the window'):
        ingest.prepare_stream(stream, UNLABELED, origin_time=origin)
  else:
    windows = [ingest.prepare_stream(stream, UNLABELED, origin_time=origin).window for stream in (merged, from_file)]
    np.testing.assert_allclose(windows[0], windows[1], atol=1e-5)


@pytest.mark.parametrize('offsets_s, values', [((2.0,), (1e30,)), ((2.0, 2.01, 2.02), (-3e9, 3e9, -3e9)),
                                               ((30.0, 30.3), (5e7, 5e7))])
def test_a_glitch_is_refused_naming_the_trace_and_its_time(shared_data, offsets_s, values):
  trace, origin = _pnw_trace(shared_data)
  for offset, value in zip(offsets_s, values):
    trace.data[int(round((origin + offset - trace.stats.starttime) * trace.stats.sampling_rate))] = value
  first = trace.stats.starttime + round((origin + offsets_s[0] - trace.stats.starttime) * 100) / 100
  with pytest.raises(RecordRejected, match=f'UW.BHW..EHZ: glitch at {str(first)[:21]}'):
    ingest.prepare_stream(obspy.Stream([trace]), UNLABELED, origin_time=origin)


def test_real_records_hold_no_glitch(shared_data):
  from ganet_jax.data import glitches
  paths = sorted((shared_data / 'eus-sac').rglob('*.SAC')) + sorted((shared_data / 'dprk').rglob('*.sac'))[:60]
  for path in paths:
    for trace in obspy.read(str(path)):
      assert not len(glitches.glitch_indices(trace.data, trace.stats.sampling_rate)), trace.id


def _sensor(trace, location, channel, data=None, rate=None):
  copy = trace.copy()
  copy.stats.location, copy.stats.channel = location, channel
  if rate:
    copy.interpolate(rate)
  if data is not None:
    copy.data = data(copy.data)
  return copy


@pytest.mark.parametrize('case', ['vertical_and_horizontals_of_two_sensors', 'noise_location_beside_blank',
                                  'dead_fast_sensor_beside_live', 'location_column_names_blank'])
def test_a_records_components_come_from_one_sensor(shared_data, case):
  trace, origin = _pnw_trace(shared_data)
  noise = lambda data: np.random.default_rng(0).normal(size=len(data))
  columns = {}
  if case == 'vertical_and_horizontals_of_two_sensors':  # Z of 00; N and E of 60 beside a dead Z
    stream = obspy.Stream([_sensor(trace, '00', 'EHZ'), _sensor(trace, '60', 'EHN', lambda d: d * 1.5),
                           _sensor(trace, '60', 'EHE', lambda d: d * 0.5), _sensor(trace, '60', 'EHZ', np.zeros_like)])
    expected = ('00', 'EHZ')
  elif case == 'dead_fast_sensor_beside_live':
    stream = obspy.Stream([_sensor(trace, '10', 'HHZ', np.zeros_like, rate=200.0), _sensor(trace, '', 'EHZ')])
    expected = ('', 'EHZ')
  else:
    stream = obspy.Stream([_sensor(trace, '10', 'EHZ', noise), _sensor(trace, '', 'EHZ')])
    expected = ('', 'EHZ')
    if case == 'noise_location_beside_blank':
      with pytest.raises(RecordRejected, match=r"holds 2 sensors .*: UW.BHW..EH\? \(1 components, 1 live, 100 Hz\), "
                                               r"UW.BHW.10.EH\? .* name one with a location column"):
        ingest.prepare_stream(stream, UNLABELED, origin_time=origin)
      return
    columns = {'location': '--'}
  prepared = ingest.prepare_stream(stream, UNLABELED, origin_time=origin, **columns)
  assert (prepared.extra['location'], prepared.extra['channels']) == expected
  assert prepared.extra['sampling_rate_in'] == '100'


def test_a_files_two_sensors_are_chosen_by_the_location_column(shared_data, tmp_path):
  rows = []
  with open(shared_data / 'pnw' / 'labels.csv', newline='') as f:
    row = next(r for r in csv.DictReader(f) if r['file'] == 'waveforms/uw61348817_UW.RPW.EHZ.mseed')
  shutil.copy(shared_data / 'pnw' / row['file'], tmp_path / 'rpw.mseed')  # locations '' and 01, both live
  for location in ('', '01', '--'):
    rows.append({**row, 'file': 'rpw.mseed', 'location': location})
  records = [records_table.read_records_table(write_table(tmp_path / f't{i}.csv', [r]), labelled=False)[0]
             for i, r in enumerate(rows)]
  with pytest.raises(RecordRejected, match=r'rpw.mseed|holds 2 sensors .*UW.RPW..EH\?.*UW.RPW.01.EH\?'):
    ingest.prepare_record(records[0], UNLABELED)
  assert [ingest.prepare_record(r, UNLABELED).extra['location'] for r in records[1:]] == ['01', '']


# One file, many rows: each row selects its station and window.

def test_one_file_of_two_stations_gives_two_records(shared_data, tmp_path):
  path, _ = _two_station_file(shared_data, tmp_path)
  origin = str(_sac_origin(shared_data / 'eus-sac' / EQ_BIRD))
  rows = [{'file': path.name, 'label': '0', 'origin_time': origin, 'p_time': _manifest(shared_data, name)['p_arrival_time'],
           'network': 'CO', 'station': station, 'channel': 'HHZ'} for station, name in (('HAW', EQ_HAW), ('BIRD', EQ_BIRD))]
  records = records_table.read_records_table(write_table(tmp_path / 't.csv', rows))
  assert [r.files for r in records] == [(path,), (path,)]
  prepared, rejected = ingest.prepare_records(records, NO_DISTANCE_LIMIT)
  assert not rejected and list(prepared.extra['station']) == ['HAW', 'BIRD']


def test_one_continuous_file_of_two_events_gives_two_records(shared_data, tmp_path):
  trace, origin = _pnw_trace(shared_data)
  later = trace.copy()
  later.stats.starttime = trace.stats.endtime + trace.stats.delta  # the next 150 s: a second event
  obspy.Stream([trace, later]).merge().write(str(tmp_path / 'hour.mseed'), format='MSEED')
  rows = [{'file': 'hour.mseed', 'event_id': event_id, 'origin_time': str(time), 'label': '0', 'network': 'UW',
           'station': 'BHW', 'channel': 'EHZ'}
          for event_id, time in (('a', origin), ('b', origin + (later.stats.starttime - trace.stats.starttime)))]
  records = records_table.read_records_table(write_table(tmp_path / 't.csv', rows + rows[:1]))
  prepared, rejected = ingest.prepare_records(records, ingest.PrepareOptions())
  assert list(prepared.event_ids) == ['a', 'b']
  onsets = [obspy.UTCDateTime(t) for t in prepared.extra['p_onset']]
  assert abs(onsets[1] - onsets[0] - (later.stats.starttime - trace.stats.starttime)) < 0.05
  assert len(rejected) == 1 and 'duplicate: the same file(s), station and window' in rejected[0]['reason']


# Paths that are not regular files are refused, never read.

@pytest.mark.parametrize('kind', ['fifo', 'device'])
def test_a_fifo_or_device_in_the_file_column_is_refused_without_reading(tmp_path, kind):
  if kind == 'fifo':
    os.mkfifo(tmp_path / 'pipe')
    name, what = 'pipe', 'FIFO'
  else:
    name, what = '/dev/zero', 'character device'
  table = write_table(tmp_path / 't.csv', [{'file': name, 'label': '0'}])
  records = records_table.read_records_table(table)
  prepared, rejected = ingest.prepare_records(records, ingest.PrepareOptions())
  assert prepared is None and f'not a regular file (a {what})' in rejected[0]['reason']
  files, skipped = records_table.scan_folder(tmp_path)
  assert kind == 'device' or ('pipe', True) in [(p.name, 'FIFO' in reason) for p, reason in skipped]


# Arrays given to a classifier: masks are gaps, and windows without signal are refused.

def _windows(classifier, count=3):
  samples = classifier.options.preprocess.window_samples
  return np.random.default_rng(0).normal(size=(count, samples, 3)).astype(np.float32)


@pytest.mark.parametrize('fill, message', [
    (lambda w: np.zeros_like(w[1]), 'the record carries no component'),
    (lambda w: np.full_like(w[1], 7.0), 'the record carries no component'),
    (lambda w: np.stack([np.zeros_like(w[1, :, 0]), w[1, :, 0], w[1, :, 2]], axis=-1), 'the record carries NE'),
])
def test_windows_without_signal_in_the_vertical_are_refused(tiny_run, fill, message):
  from ganet_jax.classify import Classifier
  classifier = Classifier.from_checkpoint(tiny_run)
  windows = _windows(classifier)
  windows[1] = fill(windows)
  with pytest.raises(ValueError, match=f'windows 1 \\(of 3; 1 in all\\): no signal in Z, .*{message}'):
    classifier.probabilities(windows)


def test_masked_window_samples_are_gaps(tiny_run):
  from ganet_jax.classify import Classifier
  classifier = Classifier.from_checkpoint(tiny_run)
  windows = _windows(classifier)
  masked = np.ma.masked_array(windows.copy(), mask=np.zeros(windows.shape, bool))
  masked.data[0, 10:15, 0], masked.mask[0, 10:15, 0] = -2147483648, True  # 0.05 s: filled as a file's gap is
  filled = windows.copy()
  filled[0, 10:15, 0] = np.interp(np.arange(10, 15), [9, 15], windows[0, [9, 15], 0])
  np.testing.assert_allclose(classifier.probabilities(masked), classifier.probabilities(filled), atol=1e-6)
  masked.mask[0, 10:40, 0] = True  # 0.3 s: longer than max_gap_s
  with pytest.raises(ValueError, match=r'windows 0 \(of 3\), component Z: a gap of 30 masked samples \(0.3 s\)'):
    classifier.probabilities(masked)


# A model refuses records it cannot see, and data its run never described.

@pytest.mark.parametrize('rate, refused', [(25.0, True), (20.0, True), (40.0, False)])
def test_the_pnw_model_refuses_records_below_its_feature_bands(shared_data, rate, refused):
  from ganet_jax.classify import Classifier
  classifier = Classifier.pretrained('pnw')
  trace, origin = _pnw_trace(shared_data)
  trace.resample(rate)
  if refused:
    with pytest.raises(RecordRejected, match=f'input rate {rate:g} Hz: Nyquist {rate / 2:g} Hz is below the '
                                             r"model's features, which read up to 20 Hz \(bands\+ratios\)"):
      classifier.classify_stream(obspy.Stream([trace]), origin_time=origin)
  else:
    assert 0 <= classifier.classify_stream(obspy.Stream([trace]), origin_time=origin) <= 1


def test_a_run_that_records_no_preprocessing_classifies_no_records(tiny_run, shared_data, tmp_path):
  from ganet_jax.classify import Classifier
  run = tmp_path / 'run'
  shutil.copytree(tiny_run, run)
  saved = json.loads((run / 'config.json').read_text())
  saved['data']['preprocessing'] = None  # as a run on the built-in synthetic set records it
  (run / 'config.json').write_text(json.dumps(saved))
  classifier = Classifier.from_checkpoint(run)
  trace, origin = _pnw_trace(shared_data)
  record = InputRecord(files=(shared_data / 'pnw' / PNW_BHW,), rows=({'origin_time': str(origin)},))
  for call in (lambda: classifier.classify_records([record]), lambda: classifier.prepare(record),
               lambda: classifier.classify_stream(obspy.Stream([trace]), origin_time=origin)):
    with pytest.raises(ValueError, match=f'{run}: records no preprocessing .* allow_unrecorded_preprocessing=True'):
      call()
  assert classifier.probabilities(_windows(classifier)).shape == (3,)  # arrays are the caller's to match
  allowed = Classifier.from_checkpoint(run, allow_unrecorded_preprocessing=True)
  assert len(allowed.classify_records([record])[0]) == 1


@pytest.mark.parametrize('member', ['fifo', '/dev/zero', 'huge'])
def test_a_model_folder_member_that_is_no_regular_file_is_refused(tmp_path, member):
  from ganet_jax.classify import Classifier, model_folder
  from ganet_jax.pretrained import locate
  folder = tmp_path / 'model'
  shutil.copytree(locate('pnw'), folder)
  card = json.loads((folder / 'card.json').read_text())
  if member == 'fifo':
    (folder / 'member_0.json').unlink()
    os.mkfifo(folder / 'member_0.json')
    message = 'member_0.json: not a regular file \\(a FIFO\\)'
  elif member == '/dev/zero':
    card['members'][0]['file'] = '/dev/zero'
    message = "card.json: members\\[0\\].file '/dev/zero': must be the name of a file in the model folder"
  else:
    with open(folder / 'member_0.json', 'r+b') as f:
      f.truncate(model_folder.MAX_MEMBER_BYTES + 1)  # sparse: no disk used
    message = 'member_0.json: .* bytes, more than the'
  (folder / 'card.json').write_text(json.dumps(card))
  with pytest.raises(ValueError, match=message):
    Classifier.pretrained(str(folder))


# One event, one label: the table and the catalog must agree where both say what the event is.

@pytest.mark.parametrize('table_type, label, catalog_type, expected', [
    ('earthquake', '', 'explosion', r"the records table says event type 'earthquake' \(label 0\) but catalog event "
                                    r"smi:local/event/7 is 'explosion' \(label 1\): correct the table or the catalog"),
    ('', '0', 'quarry blast', r"the records table says label 0 but catalog event smi:local/event/7 is 'quarry blast'"),
    ('explosion', '1', 'Quarry Blast', (1, 'explosion')),
    ('', '', 'earthquake', (0, 'earthquake')),
    ('', '1', 'explosion', (1, 'explosion')),
    ('earthquake', '', 'not reported', (0, 'earthquake')),
    ('', '', 'not reported', r"no event type \(catalog event smi:local/event/7 is 'not reported'\)"),
])
def test_table_and_catalog_must_agree_on_the_label(table_type, label, catalog_type, expected):
  record = records_table.InputRecord(files=(), rows=({'event_id': 'e7', 'event_type': table_type, 'label': label},))
  event = catalog_lib.CatalogEvent('smi:local/event/7', catalog_type, obspy.UTCDateTime(2020, 1, 1), None, None, {})
  if isinstance(expected, str):
    with pytest.raises(RecordRejected, match=expected):
      record_event.record_label(record, event, {})
  else:
    assert record_event.record_label(record, event, {}) == expected


@pytest.mark.parametrize('origins, labels, clash', [
    (['2020-01-01T00:00:00.000', '2020-01-01T00:00:00.0004', '2019-12-31T23:59:59.9996'], [0, 0, 0], False),
    (['2020-01-01T00:00:00', '2020-01-01T00:00:02'], [0, 0], True),
    (['2020-01-01T00:00:00', '2020-01-01T00:00:00'], [0, 1], True),
])
def test_one_event_id_names_one_event(origins, labels, clash):
  check = lambda: splits.check_event_ids(['e1'] * len(origins), origins, labels, ['a'] * len(origins))
  if clash:
    with pytest.raises(ValueError, match="event id 'e1' names records of two events: 2020-01-01"):
      check()
  else:
    check()


def test_a_table_giving_one_event_two_types_is_refused_however_few_inputs(tmp_path):
  rows = [{'file': f'f{i}.mseed', 'event_id': 'e1', 'origin_time': '2020-01-01T00:00:00', 'event_type': kind,
           'station': f'S{i}', 'channel': 'HHZ'} for i, kind in enumerate(['explosion'] * 3 + [' Earthquake'])]
  with pytest.raises(ValueError, match=r"t.csv: event_id 'e1' has event_type 'explosion' in 3 rows: row 1 "
                                       r"\(f0.mseed\), row 2 \(f1.mseed\), row 3 \(f2.mseed\) and 'Earthquake' in "
                                       r"1 row: row 4 \(f3.mseed\): one event has one event_type"):
    records_table.read_records_table(write_table(tmp_path / 't.csv', rows))
  for row in rows:
    row['event_type'] = ' EXPLOSION'
  assert len(records_table.read_records_table(write_table(tmp_path / 't.csv', rows))) == 4
