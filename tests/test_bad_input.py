"""Bad input and faults, table-driven, on small copies of ../shared/data.

Every case either exits with one line naming the flag or path and what is wrong,
or is handled correctly with the counts adding up. The prepare cases run in one
subprocess (``prepare_cases.py``) to keep the module fast.
"""

import csv
import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import obspy
import pytest

from obspy.core.event import Catalog, Event, Origin, ResourceIdentifier

from ganet_jax.classify import predictions
from ganet_jax.classify import Classifier
from ganet_jax.data import ingest
from ganet_jax.data import records_table
from ganet_jax.data import seisbench
from ganet_jax.data.records import load_prepared, save_prepared
from ganet_jax.data.synthetic import make_synthetic
from conftest import write_table

ROOT = pathlib.Path(__file__).resolve().parents[1]
FILES = ('waveforms/uw61348817_UW.BHW.EHZ.mseed', 'waveforms/uw61348817_UW.RPW.EHZ.mseed',
         'waveforms/uw61722766_UW.PRIN.HHZ.mseed', 'waveforms/uw61563906_IU.COR.LHZ.mseed')
LOW_RATE = FILES[3]



def _read_csv(path):
  with open(path, newline='') as f:
    return list(csv.DictReader(f))


def _derived(folder, base_row, trace_or_stream, name, **row_changes):
  """Writes a changed copy of a pnw record as MiniSEED and returns its table row."""
  stream = trace_or_stream if isinstance(trace_or_stream, obspy.Stream) else obspy.Stream([trace_or_stream])
  (folder / 'waveforms').mkdir(exist_ok=True)
  rows = []
  for trace in stream:
    file = f'waveforms/{name}.{trace.stats.channel}.mseed'
    trace.write(str(folder / file), format='MSEED')
    rows.append({**base_row, 'file': file, 'channel': trace.stats.channel, **row_changes})
  return rows


@pytest.fixture(scope='module')
def data(shared_data, tmp_path_factory):
  """A pnw copy: four records (one at 1 Hz) plus derived faulty ones, and the tables naming them."""
  root = tmp_path_factory.mktemp('bad_input')
  pnw = root / 'pnw'
  (pnw / 'waveforms').mkdir(parents=True)
  all_rows = {r['file']: r for r in _read_csv(shared_data / 'pnw' / 'labels.csv')}
  rows = [all_rows[f] for f in FILES]
  for row in rows:
    shutil.copy(shared_data / 'pnw' / row['file'], pnw / row['file'])
  tables = {'good': write_table(pnw / 'labels.csv', rows),
            'low_rate_only': write_table(pnw / 'low_rate_only.csv', [all_rows[LOW_RATE]]),
            'duplicated': write_table(pnw / 'duplicated.csv', rows[:2] + rows[:1]),
            'bom': write_table(pnw / 'bom.csv', rows, encoding='utf-8-sig')}
  base = rows[0]
  trace = obspy.read(str(pnw / base['file']))[0]
  trace.data = trace.data.astype(np.float64)
  origin = obspy.UTCDateTime(base['origin_time'])
  derived = {}
  # Starts at the origin: P lies inside the STA/LTA warm-up.
  derived['warmup'] = _derived(pnw, base, trace.slice(origin, None), 'warmup')
  for rate in (2000.0, 4000.0):  # need decimation factors 20 and 40 (> 16)
    fast = trace.copy()
    fast.interpolate(rate, method='linear')
    fast.data = fast.data.astype(np.float32)
    derived[f'rate{rate:g}'] = _derived(pnw, base, fast, f'rate{rate:g}')
  huge = trace.copy()
  huge.data = huge.data * 1e300
  derived['overflow'] = _derived(pnw, base, huge, 'overflow')
  components = obspy.Stream()
  for channel, keep_s in (('EHZ', None), ('EHN', None), ('EHE', 60.0)):  # E ends 10 s after the origin
    component = trace.copy()
    component.stats.channel = channel
    component.data = component.data + np.random.default_rng(len(components)).normal(scale=5, size=len(component))
    components += component.slice(None, component.stats.starttime + keep_s) if keep_s else component
  derived['short_component'] = _derived(pnw, base, components, 'three')
  for name, derived_rows in derived.items():
    tables[name] = write_table(pnw / f'{name}.csv', derived_rows)
  # One event, two labels: the 2021 earthquake's row given the 2018 explosion's event id and origin.
  relabelled = {**rows[2], 'event_id': base['event_id'], 'origin_time': base['origin_time']}
  tables['two_labels'] = write_table(pnw / 'two_labels.csv', rows[:2] + [relabelled])
  # Table against catalog: the catalog calls the table's explosion an earthquake.
  Catalog([Event(resource_id=ResourceIdentifier(f'quakeml:uw.anss.org/Event/UW/{base["event_id"][2:]}'),
                 event_type='earthquake', origins=[Origin(time=origin)])]).write(
      str(root / 'catalog.xml'), format='QUAKEML')
  # A folder without a table: a waveform named .TXT is input, a text .csv is skipped with a reason.
  scan = root / 'scan'
  scan.mkdir()
  shutil.copy(pnw / base['file'], scan / 'waveform.TXT')
  shutil.copy(pnw / base['file'], scan / 'plain.mseed')
  (scan / 'notes.csv').write_text('a,b\n1,2\n')
  (root / 'a_file').write_text('not a folder')
  (root / 'not_empty').mkdir()
  (root / 'not_empty' / 'thesis.tex').write_text('keep me')
  return {'root': root, 'pnw': pnw, 'tables': tables, 'scan': scan}


def _cases(data):
  """(name, flags, check) in run order; check(result, data) asserts the outcome."""
  root, pnw, tables = data['root'], data['pnw'], data['tables']
  out = lambda name: str(root / 'out' / name)

  def prepare_args(table='good', output=None, *extra):
    return [f'--input={pnw}', f'--records={tables[table]}', f'--output={output or out(table)}', *extra]

  def error(*fragments):
    def check(result, data):
      assert result['rc'] == 1, result
      assert '\n' not in result['message'].strip(), result['message']
      for fragment in fragments:
        assert fragment in result['message'], (fragment, result['message'])
    return check

  def accepted(folder, n_input, **expect):
    def check(result, data):
      assert result['rc'] == 0, result
      records = load_prepared(folder) if (pathlib.Path(folder) / 'manifest.csv').exists() else None
      rejected_file = pathlib.Path(folder) / 'rejected.csv'
      rejected = _read_csv(rejected_file) if rejected_file.exists() else []
      assert (len(records) if records is not None else 0) + len(rejected) == n_input
      for column, values in expect.items():
        assert list(records.extra[column]) == values, (column, list(records.extra[column]))
      data.setdefault('checked', {})[folder] = (records, rejected)
    return check

  def stale_check(result, data):
    # The all-rejected rerun replaced the whole set: no old manifest or waveforms left to train on.
    assert result['rc'] == 0, result
    folder = pathlib.Path(out('reused'))
    assert sorted(p.name for p in folder.iterdir()) == ['preprocess.json', 'rejected.csv', 'shard-00000', 'shards.json']
    assert not list(folder.rglob('manifest.csv')) and not list(folder.rglob('waveforms.npy'))
    assert len(_read_csv(folder / 'rejected.csv')) == 1
    assert not [p for p in folder.parent.iterdir() if p.name.startswith('.')]  # no staging left behind

  def reason(folder, fragment, absent=None):
    def check(result, data):
      assert result['rc'] == 0, result
      lines = _read_csv(pathlib.Path(folder) / 'rejected.csv')
      assert any(fragment in line['reason'] for line in lines), lines
      if absent:
        assert not any(absent in line['reason'] for line in lines), lines
    return check

  def warmup_check(result, data):
    assert result['rc'] == 0, result
    records = load_prepared(out('warmup'))
    method, onset = records.extra['p_method'][0], obspy.UTCDateTime(records.extra['p_onset'][0])
    start = obspy.UTCDateTime(records.origin_times[0].astype(str))
    assert not (method == 'sta_lta' and abs(onset - (start + 10.0)) < 0.05), (method, onset)
    assert method.startswith('fallback:') and 'warm up' in method
    assert records.extra['p_quality'][0] == ''

  def scan_check(result, data):
    assert result['rc'] == 0, result
    folder = pathlib.Path(out('scan'))
    skipped = _read_csv(folder / 'skipped.csv')
    assert [pathlib.Path(s['file']).name for s in skipped] == ['notes.csv'] and 'not a waveform' in skipped[0]['reason']
    rejected = _read_csv(folder / 'rejected.csv')
    assert sorted(pathlib.Path(r['file']).name for r in rejected) == ['plain.mseed', 'waveform.TXT']
    assert 'input 2:' in result['stdout'] and '1 files under --input skipped' in result['stdout']

  return [
      ('good', prepare_args(), accepted(out('good'), 4)),
      ('reused_first', prepare_args('good', out('reused')), lambda result, data: None),
      ('reuse_without_overwrite', prepare_args('low_rate_only', out('reused')), error('--output=', '--overwrite')),
      ('reuse_with_overwrite', prepare_args('low_rate_only', out('reused'), '--overwrite'), stale_check),
      ('output_is_a_file', prepare_args('good', str(root / 'a_file')), error('--output=', 'is a file')),
      ('output_under_a_file', prepare_args('good', str(root / 'a_file' / 'set')), error('--output=', 'is a file')),
      ('output_not_a_prepared_set', prepare_args('good', str(root / 'not_empty')), error('--output=', 'thesis.tex')),
      ('sampling_rate_zero', prepare_args('good', None, '--sampling_rate=0'), error('--sampling_rate=0')),
      ('sampling_rate_negative', prepare_args('good', None, '--sampling_rate=-100'), error('--sampling_rate=-100')),
      ('sampling_rate_nan', prepare_args('good', None, '--sampling_rate=nan'), error('--sampling_rate=nan')),
      ('window_negative', prepare_args('good', None, '--window_s=-5'), error('--window_s=-5')),
      ('detrend_negative', prepare_args('good', None, '--detrend_degree=-1'), error('--detrend_degree=-1')),
      ('threshold_zero', prepare_args('good', None, '--sta_lta_threshold=0'), error('--sta_lta_threshold=0')),
      ('max_gap_negative', prepare_args('good', None, '--max_gap_s=-1'), error('--max_gap_s=-1')),
      ('max_distance_nan', prepare_args('good', None, '--max_distance_km=nan'), error('--max_distance_km=nan')),
      ('max_pad_inf', prepare_args('good', None, '--max_pad_s=inf'), error('--max_pad_s=inf')),
      ('bandpass_reversed', prepare_args('good', None, '--bandpass=20,1'), error('--bandpass=20,1')),
      ('bandpass_above_nyquist', prepare_args('good', None, '--bandpass=1,60'), error('--bandpass=1,60', 'Nyquist')),
      ('whiten_without_noise', prepare_args('good', None, '--normalization=noise_whiten'),
       error('--normalization=noise_whiten', '--noise_s > 0')),
      ('noise_negative', prepare_args('good', None, '--noise_s=-1'), error('--noise_s=-1')),
      ('progress_zero', prepare_args('good', None, '--progress_every=0'), error('--progress_every=0')),
      ('split_boundary_not_a_time', prepare_args('good', None, '--split_boundaries=yesterday'),
       error('--split_boundaries=yesterday')),
      ('input_missing', [f'--input={root / "nowhere"}', f'--output={out("x")}'], error('--input=', 'does not exist')),
      ('input_is_a_file', [f'--input={root / "a_file"}', f'--output={out("x")}'], error('--input=', 'not a folder')),
      ('records_is_a_folder', [f'--input={pnw}', f'--records={pnw / "waveforms"}', f'--output={out("x")}'],
       error('--records=', 'a folder')),
      ('records_missing', [f'--input={pnw}', '--records=absent.csv', f'--output={out("x")}'],
       error('--records=absent.csv')),
      ('csv_as_catalog', prepare_args('good', None, f'--catalog={tables["good"]}'), error('--catalog=', 'QuakeML')),
      ('records_count_mismatch', [f'--input={pnw}', f'--input={pnw}', f'--records={tables["good"]}',
                                  f'--output={out("x")}'], error('--records is given 1 times for 2 --input')),
      ('duplicated_rows', prepare_args('duplicated'), reason(out('duplicated'), 'duplicate: the same file(s)')),
      ('bom_table', prepare_args('bom'), accepted(out('bom'), 4)),
      ('warmup', prepare_args('warmup'), warmup_check),
      ('rate_2000', prepare_args('rate2000'), accepted(out('rate2000'), 1, sampling_rate_in=['2000'])),
      ('rate_4000', prepare_args('rate4000'), accepted(out('rate4000'), 1, sampling_rate_in=['4000'])),
      ('overflow', prepare_args('overflow'), reason(out('overflow'), 'overflow', absent='flat')),
      ('short_component', prepare_args('short_component'),
       accepted(out('short_component'), 1, channels_present=['ZN'])),
      ('scan_lists_skipped_files', [f'--input={data["scan"]}', f'--output={out("scan")}'], scan_check),
      ('one_event_two_labels', prepare_args('two_labels'),
       error('two_labels.csv: event_id', "has event_type 'explosion' in 2 rows: row 1", "'earthquake' in 1 row: row 3",
             'one event has one event_type')),
      ('table_against_catalog', prepare_args('good', out('good_catalog'), f'--catalog={root / "catalog.xml"}'),
       reason(out('good_catalog'), "the records table says event type 'explosion' (label 1) but catalog event "
                                   "quakeml:uw.anss.org/Event/UW/61348817 is 'earthquake' (label 0)")),
  ]


@pytest.fixture(scope='module')
def prepare_results(data):
  cases = _cases(data)
  (data['root'] / 'out').mkdir(exist_ok=True)
  case_file, result_file = data['root'] / 'cases.json', data['root'] / 'results.json'
  case_file.write_text(json.dumps([[name, args] for name, args, _ in cases]))
  subprocess.run([sys.executable, str(ROOT / 'tests' / 'prepare_cases.py'), str(case_file), str(result_file)],
                 cwd=ROOT, env={**os.environ, 'PYTHONPATH': str(ROOT)}, check=True, timeout=600,
                 capture_output=True)
  return json.loads(result_file.read_text())


def pytest_generate_tests(metafunc):
  if 'prepare_case' in metafunc.fixturenames:
    dummy = {'root': pathlib.Path('/r'), 'pnw': pathlib.Path('/p'), 'scan': pathlib.Path('/s'),
             'tables': _AnyTable()}
    metafunc.parametrize('prepare_case', [name for name, _, _ in _cases(dummy)])


class _AnyTable(dict):
  def __missing__(self, key):
    return pathlib.Path(f'/{key}.csv')


def test_prepare_bad_input(prepare_case, data, prepare_results):
  check = {name: check for name, _, check in _cases(data)}[prepare_case]
  result = prepare_results[prepare_case]
  assert result['rc'] != 2, f'raw exception: {result["message"]}'
  check(result, data)
  if result['rc'] == 0:  # for every run the counts add up to the input
    line = next(l for l in result['stdout'].splitlines() if l.startswith('input '))
    total, accepted, rejected = (int(part.split()[-1]) for part in line.split('(')[0].replace(':', ',').split(','))
    assert accepted + rejected == total


def _tiny_set(folder):
  records = make_synthetic(4, seed=0, samples=50)
  return save_prepared(folder, records)


def _tamper_empty(folder):
  (folder / 'waveforms.npy').write_bytes(b'')


def _tamper_nan(folder):
  waveforms = np.load(folder / 'waveforms.npy')
  waveforms[2, 10, 0] = np.nan
  np.save(folder / 'waveforms.npy', waveforms)


def _tamper_two_channels(folder):
  np.save(folder / 'waveforms.npy', np.load(folder / 'waveforms.npy')[..., :2])


def _tamper_float64(folder):
  np.save(folder / 'waveforms.npy', np.load(folder / 'waveforms.npy').astype(np.float64))


def _tamper_label(folder):
  rows = _read_csv(folder / 'manifest.csv')
  rows[1]['label'] = '7'
  write_table(folder / 'manifest.csv', rows)


@pytest.mark.parametrize('tamper, message', [
    (_tamper_empty, 'waveforms.npy: not a readable .npy array'),
    (_tamper_nan, 'record 2 ('),
    (_tamper_two_channels, 'shape'),
    (_tamper_float64, 'float64 array'),
    (_tamper_label, "record 1 ("),
])
def test_tampered_prepared_set_is_refused_naming_the_record(tmp_path, tamper, message):
  folder = _tiny_set(tmp_path / 'set')
  load_prepared(folder)  # intact: opens
  tamper(folder)
  with pytest.raises(ValueError, match=message.replace('(', r'\(')):
    load_prepared(folder)


def test_corrupt_seisbench_hdf5_is_named(tmp_path):
  (tmp_path / 'metadata.csv').write_text('trace_name,source_type\nx,earthquake\n')
  (tmp_path / 'waveforms.hdf5').write_bytes(b'\x89HDF garbage' * 10)
  with pytest.raises(ValueError, match='waveforms.hdf5: not an HDF5 file'):
    seisbench.read_dataset(tmp_path)


def test_classify_outputs_are_checked_before_any_work(tiny_run, tmp_path):
  folder = tmp_path / 'predictions.csv'
  folder.mkdir()
  # A bogus checkpoint: the output is refused before the checkpoint is even opened.
  with pytest.raises(ValueError, match='--output=.*is a folder'):
    predictions.classify_files(str(tmp_path / 'no_run'), [str(tmp_path)], None, folder)
  existing = tmp_path / 'old.csv'
  existing.write_text('earlier run\n')
  with pytest.raises(ValueError, match='--output=.*exists; pass --overwrite'):
    predictions.classify_files(str(tmp_path / 'no_run'), [str(tmp_path)], None, existing)
  with pytest.raises(ValueError, match='is a file'):
    predictions.classify_files(str(tmp_path / 'no_run'), [str(tmp_path)], None, existing / 'under.csv')


def test_classify_damaged_checkpoint_is_one_line(tiny_run, tmp_path):
  damaged = tmp_path / 'run'
  shutil.copytree(tiny_run, damaged)
  for chunk in (damaged / 'checkpoints').rglob('d/*'):
    if chunk.is_file():
      chunk.write_bytes(os.urandom(64))
  with pytest.raises(ValueError) as caught:
    Classifier.from_checkpoint(damaged)
  assert 'cannot restore the checkpoint' in str(caught.value) and '\n' not in str(caught.value)


def test_classify_lists_a_duplicated_record_once(tiny_run, data):
  rows = _read_csv(data['tables']['good'])[:1]
  records = records_table.read_records_table(write_table(data['root'] / 'dup_classify.csv', rows * 2), data['pnw'])
  classified, unclassified = Classifier.from_checkpoint(tiny_run).classify_records(records)
  assert len(classified) == 1 and len(unclassified) == 1 and 'duplicate' in unclassified[0]['reason']


def test_classify_refuses_one_event_id_for_two_events_of_two_inputs(tiny_run, data, shared_data):
  # Two inputs number their events alike: 'e1' is a 2018 explosion in one and a 2021 earthquake in the other.
  later = next(r for r in _read_csv(shared_data / 'pnw' / 'labels.csv') if r['event_id'] == 'uw61699342')
  inputs, tables = [], []
  for name, row in (('inputs_2018', _read_csv(data['tables']['good'])[0]), ('inputs_2021', later)):
    folder = data['root'] / name
    (folder / 'waveforms').mkdir(parents=True)
    shutil.copy(shared_data / 'pnw' / row['file'], folder / row['file'])
    inputs.append(str(folder))
    tables.append(str(write_table(folder / 'table.csv', [{**row, 'event_id': 'e1'}])))
  with pytest.raises(ValueError, match=r"event id 'e1' names records of two events \(sources 'inputs_2018' and "
                                       r"'inputs_2021'\): 2018-02-13.* and 2021-01-17.*rename one input's events"):
    predictions.classify_files(str(tiny_run), inputs, tables, data['root'] / 'e1_clash.csv')
  assert not (data['root'] / 'e1_clash.csv').exists()


def test_prepare_stream_matches_the_file_path(data):
  base = _read_csv(data['tables']['good'])[0]
  record = records_table.read_records_table(write_table(data['root'] / 'one.csv', [base]), data['pnw'])[0]
  from_file = ingest.prepare_record(record, ingest.PrepareOptions())
  from_stream = ingest.prepare_stream(obspy.read(str(record.files[0])), ingest.PrepareOptions(),
                                      origin_time=obspy.UTCDateTime(base['origin_time']), label='1')
  np.testing.assert_array_equal(from_file.window, from_stream.window)
  assert from_stream.extra['p_onset'] == from_file.extra['p_onset']
