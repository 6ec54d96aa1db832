"""Ingestion of real files from ../shared/data and of deliberately broken copies."""

import csv
import shutil

import numpy as np
import obspy
import pytest
from obspy.core.event import Catalog, Event, Origin

from ganet_jax.data import catalog as catalog_lib
from ganet_jax.data import ingest
from ganet_jax.data import records_table
from ganet_jax.data import rejections
from ganet_jax.data.preprocess import PreprocessConfig
from ganet_jax.errors import RecordRejected
from conftest import write_table

# A pnw subset covering the cases: 100 Hz, 50 Hz, 40/20 Hz with several location
# codes (the table names one), 1 Hz LHZ, a gap before the origin, a flat (clipped) channel.
PNW_FILES = (
    'waveforms/uw61348817_UW.BHW.EHZ.mseed',
    'waveforms/uw61348817_UW.HTW.EHZ.mseed',
    'waveforms/uw61563906_IU.COR.BHZ.mseed',
    'waveforms/uw61563906_IU.COR.LHZ.mseed',
    'waveforms/uw61563906_IU.COR.VHZ.mseed',
    'waveforms/uw61722766_UW.PRIN.HHZ.mseed',
    'waveforms/uw61777692_UW.VFP.EHZ.mseed',
)


def _pnw_rows(shared_data, files=None):
  with open(shared_data / 'pnw' / 'labels.csv', newline='') as f:
    rows = list(csv.DictReader(f))
  if files is None:
    return rows
  wanted = {f: i for i, f in enumerate(files)}
  return sorted((r for r in rows if r['file'] in wanted), key=lambda r: wanted[r['file']])



def _prepare(table, base, **option_overrides):
  records = records_table.read_records_table(table, base)
  return records, ingest.prepare_records(records, ingest.PrepareOptions(**option_overrides))


def test_pnw_subset_accepted_plus_rejected_is_input(shared_data, tmp_path):
  rows = [{**row, 'location': ''} for row in _pnw_rows(shared_data, PNW_FILES)]
  rows[2]['location'] = '10'  # IU.COR.BHZ holds locations 00 (20 Hz), 10 and 60 (40 Hz)
  table = write_table(tmp_path / 'labels.csv', rows)
  records, (accepted, rejected) = _prepare(table, shared_data / 'pnw')
  assert len(records) == len(PNW_FILES)
  assert len(accepted) + len(rejected) == len(PNW_FILES)
  reasons = {r['record']: r['reason'] for r in rejected}
  assert 'sampling rate 1 Hz < 20 Hz' in reasons['uw61563906_IU.COR.LHZ']
  assert 'sampling rate 0.1 Hz < 20 Hz' in reasons['uw61563906_IU.COR.VHZ']
  assert 'all channels flat' in reasons['uw61777692_UW.VFP.EHZ']
  kept = set(accepted.extra['file'])
  for usable in PNW_FILES[:3] + PNW_FILES[5:6]:  # 100/50/40 Hz, gap outside the window
    assert str(shared_data / 'pnw' / usable) in kept
  waveforms = np.asarray(accepted.waveforms)
  assert waveforms.shape == (len(accepted), 10000, 3) and np.all(np.isfinite(waveforms))
  np.testing.assert_allclose(waveforms[:, :, 0].mean(axis=1), 0, atol=1e-4)
  np.testing.assert_allclose(waveforms[:, :, 0].std(axis=1), 1, atol=1e-3)
  assert np.all(waveforms[:, :, 1:] == 0) and set(accepted.extra['channels_present']) == {'Z'}
  cor = list(accepted.extra['file']).index(str(shared_data / 'pnw' / PNW_FILES[2]))
  assert accepted.extra['sampling_rate_in'][cor] == '40' and accepted.extra['location'][cor] == '10'
  assert set(m.split(' ')[0] for m in accepted.extra['p_method']) <= {'sta_lta', 'fallback:origin'}
  assert set(accepted.labels) == {0, 1}


def _broken_copies(shared_data, tmp_path):
  """(table rows, expected reason fragment) for each kind of bad input."""
  good = _pnw_rows(shared_data, PNW_FILES[:1])[0]
  source = shared_data / 'pnw' / good['file']
  cases = []

  def add(name, reason, **changes):
    cases.append(({**good, 'file': name, **changes}, reason))

  (tmp_path / 'empty.mseed').write_bytes(b'')
  add('empty.mseed', 'unreadable')
  raw = source.read_bytes()
  (tmp_path / 'truncated.mseed').write_bytes(raw[:len(raw) // 3 + 17])
  add('truncated.mseed', 'Unexpected end of file')  # ObsPy reads what is there and warns
  (tmp_path / 'garbage.mseed').write_bytes(b'not a seismogram at all' * 50)
  add('garbage.mseed', 'unreadable')
  add('missing.mseed', 'file not found')
  trace = obspy.read(str(source))[0]
  trace.data = trace.data.astype(np.float64)
  trace.data[7000:7010] = np.nan
  trace.write(str(tmp_path / 'nan.sac'), format='SAC')
  add('nan.sac', '10 NaN/inf samples')
  short = trace.copy()
  short.data = np.nan_to_num(short.data)[:8000]
  short.write(str(tmp_path / 'short.sac'), format='SAC')
  add('short.sac', 'record too short: it holds 30.0 s from the origin time on')
  low = trace.copy()
  low.data = np.nan_to_num(low.data)[::10]
  low.stats.sampling_rate = 10.0
  low.write(str(tmp_path / 'low_rate.sac'), format='SAC')
  add('low_rate.sac', 'sampling rate 10 Hz < 20 Hz')
  odd = trace.copy()
  odd.data = np.nan_to_num(odd.data)
  odd.stats.channel = 'EHX'
  odd.write(str(tmp_path / 'unknown_channel.sac'), format='SAC')
  add('unknown_channel.sac', 'no Z/N/E/1/2 channel')
  for name in ('good.mseed', 'landslide.mseed', 'mislabelled.mseed'):  # one file each: a file listed twice is a duplicate
    shutil.copy(source, tmp_path / name)
  # events of their own: a table giving one event two types is refused as a whole
  origin = obspy.UTCDateTime(good['origin_time'])
  add('landslide.mseed', 'event type', event_type='landslide', label='', event_id='e_landslide',
      origin_time=str(origin + 5))
  add('mislabelled.mseed', 'means label 1 but the label column says', event_type='quarry blast', label='0',
      event_id='e_mislabelled', origin_time=str(origin + 10))
  return cases


def test_bad_inputs_are_each_reported_and_the_rest_processed(shared_data, tmp_path):
  cases = _broken_copies(shared_data, tmp_path)
  rows = [row for row, _ in cases] + [{**cases[0][0], 'file': 'good.mseed'}]
  table = write_table(tmp_path / 'table.csv', rows)
  records, (accepted, rejected) = _prepare(table, tmp_path)
  assert len(accepted) == 1 and accepted.extra['file'][0].endswith('good.mseed')
  assert len(rejected) == len(cases)
  for (row, reason), line in zip(cases, rejected):
    assert line['file'].endswith(row['file'])
    assert reason in line['reason'], (row['file'], line['reason'])
    assert line['reason']


def test_dprk_three_component_record_with_sac_t1_pick(shared_data, tmp_path):
  with open(shared_data / 'dprk' / 'manifest.csv', newline='') as f:
    rows = [r for r in csv.DictReader(f) if r['file'].startswith('2016.09.09.00.30.01/IC.MDJ.00.')]
  assert len(rows) == 3
  table = write_table(tmp_path / 'manifest.csv', rows)
  _, (accepted, rejected) = _prepare(table, shared_data / 'dprk')
  assert accepted is None and 'nuclear explosion (DPRK)' in rejected[0]['reason']
  _, (accepted, rejected) = _prepare(table, shared_data / 'dprk')
  records, (accepted, rejected) = _prepare(
      table, shared_data / 'dprk', event_type_map={'nuclear explosion (DPRK)': 'nuclear explosion'})
  assert accepted is None and 'distance' in rejected[0]['reason'] and '> 200 km' in rejected[0]['reason']
  records, (accepted, rejected) = _prepare(
      table, shared_data / 'dprk', event_type_map={'nuclear explosion (DPRK)': 'nuclear explosion'},
      preprocess=PreprocessConfig(max_distance_km=None))
  assert len(records) == 1 and not rejected and len(accepted) == 1
  assert accepted.extra['channels_present'][0] == 'ZNE' and accepted.labels[0] == 1
  assert accepted.extra['p_method'][0] == 'sac:t1'
  window = np.asarray(accepted.waveforms[0])
  np.testing.assert_allclose(window.std(axis=0), 1, atol=1e-3)


def test_eus_sac_short_records_are_rejected_or_padded_when_allowed(shared_data, tmp_path):
  with open(shared_data / 'eus-sac' / 'manifest.csv', newline='') as f:
    rows = list(csv.DictReader(f))[:2]
  table = write_table(tmp_path / 'manifest.csv', rows)
  _, (accepted, rejected) = _prepare(table, shared_data / 'eus-sac',
                                     preprocess=PreprocessConfig(max_distance_km=None))
  assert accepted is None and all('record ends 70.0 s after the P onset' in r['reason'] for r in rejected)
  _, (accepted, rejected) = _prepare(table, shared_data / 'eus-sac',
                                     preprocess=PreprocessConfig(max_distance_km=None, max_pad_s=31))
  assert len(accepted) == 2 and set(accepted.extra['p_method']) == {'table'}
  assert all(29.9 < float(p) <= 30.1 for p in accepted.extra['padded_s'])


def test_catalog_gives_type_and_origin_and_reports_missing_events(shared_data, tmp_path):
  rows = _pnw_rows(shared_data, PNW_FILES[:2])
  bare = [{'file': r['file'], 'event_id': r['event_id']} for r in rows]
  bare[1]['event_id'] = 'uw00000000'
  table = write_table(tmp_path / 'files.csv', [{**b, 'label': ''} for b in bare])
  origin = Origin(time=obspy.UTCDateTime(rows[0]['origin_time']), latitude=48.089, longitude=-121.914)
  event = Event(resource_id=f'quakeml:uw.anss.org/Event/UW/{rows[0]["event_id"][2:]}',
                event_type='quarry blast', origins=[origin])
  Catalog([event]).write(str(tmp_path / 'catalog.xml'), format='QUAKEML')
  events = catalog_lib.read_catalog(str(tmp_path / 'catalog.xml'))
  _, (accepted, rejected) = _prepare(table, shared_data / 'pnw', catalog=events)
  assert len(accepted) == 1 and accepted.event_types[0] == 'quarry blast' and accepted.labels[0] == 1
  assert len(rejected) == 1 and 'uw00000000' in rejected[0]['reason'] and 'not in the catalog' in rejected[0]['reason']


def test_columns_are_found_or_mapped():
  header = ['path', 'evid', 'origin', 'type']
  assert records_table.resolve_columns(header)['event_id'] == 'evid'
  assert records_table.resolve_columns(header, {'event_id': 'origin'})['event_id'] == 'origin'
  with pytest.raises(ValueError, match="'nope'"):
    records_table.resolve_columns(header, {'event_id': 'nope'})
  with pytest.raises(ValueError, match='neither an event type nor a label'):
    records_table.resolve_columns(['file', 'evid'])


def test_reason_kinds_group_reasons_without_their_numbers():
  kinds = rejections.reason_kinds([{'reason': 'UW.X..LHZ: sampling rate 1 Hz < 20 Hz'},
                               {'reason': 'UW.Y..VHZ: sampling rate 0.1 Hz < 20 Hz'},
                               {'reason': 'epicentral distance 343 km > 200 km'},
                               {'reason': 'G.A..BHE: 9 NaN/inf samples | G.A..BHN: 3 NaN/inf samples'},
                               {'reason': 'all channels flat (zero variance) [a.mseed: Warning: end of file]'}])
  assert [(k.kind, k.count) for k in kinds] == [
      ('sampling rate # Hz < # Hz', 2), ('epicentral distance # km > # km', 1), ('# NaN/inf samples', 1),
      ('all channels flat (zero variance)', 1)]
  assert kinds[0].example == 'UW.X..LHZ: sampling rate 1 Hz < 20 Hz'  # a real reason, digits and all


def test_a_bad_component_is_dropped_not_the_record(shared_data, tmp_path):
  with open(shared_data / 'dprk' / 'manifest.csv', newline='') as f:
    rows = [r for r in csv.DictReader(f) if r['file'].startswith('2016.09.09.00.30.01/IC.MDJ.00.')]
  (tmp_path / '2016.09.09.00.30.01').mkdir()
  for row in rows:
    shutil.copy(shared_data / 'dprk' / row['file'], tmp_path / row['file'])
  east = next(r['file'] for r in rows if r['channel'] == 'BH2')  # 1/2 stand for N/E here
  north = next(r['file'] for r in rows if r['channel'] == 'BH1')
  trace = obspy.read(str(tmp_path / east))[0]
  trace.data = trace.data.astype(np.float32)
  trace.data[100:200] = np.inf
  trace.write(str(tmp_path / east), format='SAC')
  (tmp_path / north).write_bytes(b'\x00' * 50)
  table = write_table(tmp_path / 'manifest.csv', rows)
  _, (accepted, rejected) = _prepare(
      table, tmp_path, event_type_map={'nuclear explosion (DPRK)': '1'},
      preprocess=PreprocessConfig(max_distance_km=None))
  assert not rejected and len(accepted) == 1
  assert accepted.extra['channels_present'][0] == 'Z' and accepted.extra['channels'][0] == 'BHZ'
  notes = accepted.extra['notes'][0]
  assert 'IC.MDJ.00.BH1.sac: unreadable' in notes and 'component dropped: IC.MDJ.00.BH2: 100 NaN/inf' in notes
  window = np.asarray(accepted.waveforms[0])
  assert np.all(window[:, 1:] == 0) and window[:, 0].std() == pytest.approx(1.0, abs=1e-3)


def test_files_without_a_table_take_event_from_catalog_and_coordinates_from_stationxml(shared_data, tmp_path):
  from obspy.core.inventory import Inventory, Network, Station
  rows = _pnw_rows(shared_data, PNW_FILES[:2])
  files = [shared_data / 'pnw' / r['file'] for r in rows]
  origin = Origin(time=obspy.UTCDateTime(rows[0]['origin_time']), latitude=48.089, longitude=-121.914)
  Catalog([Event(event_type='quarry blast', origins=[origin])]).write(str(tmp_path / 'c.xml'), format='QUAKEML')
  stations = [Station('BHW', latitude=48.1, longitude=-121.9, elevation=0.0),  # ~1.5 km away
              Station('HTW', latitude=50.0, longitude=-121.9, elevation=0.0)]  # ~213 km away
  inventory = Inventory(networks=[Network('UW', stations=stations)], source='test')
  inventory.write(str(tmp_path / 'stations.xml'), format='STATIONXML')
  records = records_table.records_from_files(files)
  accepted, rejected = ingest.prepare_records(records, ingest.PrepareOptions(
      catalog=catalog_lib.read_catalog(str(tmp_path / 'c.xml')),
      inventory=obspy.read_inventory(str(tmp_path / 'stations.xml'))))
  assert len(accepted) == 1 and accepted.extra['station'][0] == 'BHW' and accepted.labels[0] == 1
  assert float(accepted.extra['distance_km'][0]) == pytest.approx(1.5, abs=0.5)
  assert len(rejected) == 1 and 'epicentral distance 213 km > 200 km' in rejected[0]['reason']


def test_spooled_windows_equal_in_memory_windows(shared_data, tmp_path):
  table = write_table(tmp_path / 'labels.csv', _pnw_rows(shared_data, PNW_FILES[:4]))
  records = records_table.read_records_table(table, shared_data / 'pnw')
  in_memory, rejected = ingest.prepare_records(records, ingest.PrepareOptions())
  spooled, rejected_again = ingest.prepare_records(records, ingest.PrepareOptions(),
                                                   spool_path=tmp_path / 'windows.spool')
  assert isinstance(spooled.waveforms, np.memmap) and rejected == rejected_again
  np.testing.assert_array_equal(np.asarray(spooled.waveforms), in_memory.waveforms)
  assert list(spooled.record_ids) == list(in_memory.record_ids)


def test_a_p_time_stands_in_for_a_missing_origin_in_tables_and_streams_alike(shared_data, tmp_path):
  row = _pnw_rows(shared_data, PNW_FILES[:1])[0]
  p_time = str(obspy.UTCDateTime(row['origin_time']) + 8.0)
  without_origin = {k: v for k, v in row.items() if k not in ('origin_time', 'event_id')}
  table = write_table(tmp_path / 'labels.csv', [{**without_origin, 'p_time': p_time},
                                                 {**without_origin, 'station': 'HTW', 'file': PNW_FILES[1]}])
  # the records-table path (experiments.prepare)
  _, (accepted, rejected) = _prepare(table, shared_data / 'pnw')
  assert len(accepted) == 1 and accepted.extra['p_method'][0] == 'table'
  assert accepted.origin_times[0] == np.datetime64(obspy.UTCDateTime(p_time).datetime)
  assert 'no origin time: the P time stands in for it' in accepted.extra['notes'][0]
  reason = 'no origin time (table column, SAC o header or catalog) and no P time to stand in for it'
  assert len(rejected) == 1 and rejected[0]['reason'].startswith(reason)
  # the in-memory path (prepare_stream, Classifier.classify_stream): the same rule, the same window
  stream = obspy.read(str(shared_data / 'pnw' / PNW_FILES[0]))
  options = ingest.PrepareOptions()
  prepared = ingest.prepare_stream(stream, options, p_onset=obspy.UTCDateTime(p_time), event_type=row['event_type'])
  np.testing.assert_array_equal(prepared.window, np.asarray(accepted.waveforms)[0])
  assert prepared.origin_time == obspy.UTCDateTime(p_time)
  assert 'no origin time: the P time stands in for it' in prepared.extra['notes']
  with pytest.raises(RecordRejected, match=reason.replace('(', r'\(').replace(')', r'\)')):
    ingest.prepare_stream(stream, options, event_type=row['event_type'])
