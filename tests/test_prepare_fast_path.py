"""The array path of preparation (``dsp``, ``waveform_files``) gives the windows ObsPy's own path gives.

The reference below is the straightforward formulation: ObsPy ``Trace`` methods for
reading, merging, resampling and the picker's filter, and a direct least-squares
polynomial fit (``np.polynomial.legendre.legfit``) for the detrend. Records are
prepared both ways, on real records of ../shared/data and on a SeisBench-format set.

Why 1e-6 holds: the filters (``dsp.bandpass``, ``dsp.decimate``) use ObsPy's own
designs and ``sosfilt`` passes, so their samples are bit-identical; the polyphase
Lanczos sums the same weighted samples in another order, with kernel positions that
differ by under 1e-11 input samples (about 1e-12 of the largest sample); the detrend
projects on the same polynomials through the normal equations of a Gram matrix of
condition number ~20 instead of a QR least-squares solve (about 1e-14 of the
record's scale). Windows are standardised to unit variance and stored as float32,
whose rounding (6e-8) is the largest difference left: 1e-6 is 16 float32 ulps, far
above these and far below any change of the signal chain.
"""

import csv
import gzip
import shutil

import numpy as np
import obspy
import pytest
from obspy.signal import filter as obspy_filter
from obspy.signal.interpolation import lanczos_interpolation

from ganet_jax.data import dsp
from ganet_jax.data import ingest
from ganet_jax.data import preprocess
from ganet_jax.data import record_event
from ganet_jax.data import records_table
from ganet_jax.data import seisbench
from ganet_jax.data import seisbench_writer
from ganet_jax.data import waveform_files
from ganet_jax.data.preprocess import PreprocessConfig
from ganet_jax.errors import RecordRejected

TOLERANCE = 1e-6  # on unit-variance windows; see the module docstring


def reference_resample(trace, sampling_rate, min_sampling_rate):
  """ObsPy's Trace methods: decimate for integer factors down, else low-pass (down) and Lanczos."""
  rate = float(trace.stats.sampling_rate)
  if rate < min_sampling_rate:
    raise RecordRejected(f'{trace.id}: sampling rate {rate:g} Hz < {min_sampling_rate:g} Hz '
                         f'(--min_sampling_rate); not upsampled to {sampling_rate:g} Hz')
  out = trace.copy()
  out.data = np.asarray(out.data, dtype=np.float64)
  if np.isclose(rate, sampling_rate):
    out.stats.sampling_rate = sampling_rate
    return out
  factor = rate / sampling_rate
  stages = preprocess.decimation_stages(int(round(factor))) if factor > 1 and np.isclose(factor, round(factor)) else None
  if stages:
    for stage in stages:
      out.decimate(stage, no_filter=False)
    out.stats.sampling_rate = sampling_rate
    return out
  if factor > 1:
    out.filter('lowpass', freq=0.4 * sampling_rate, corners=8, zerophase=True)
  out.interpolate(sampling_rate, method='lanczos', a=12)
  return out


def reference_merge(traces):
  stream = traces.copy()
  for trace in stream:
    trace.data = np.asarray(trace.data, np.float64)
  gaps = [(start + stream[0].stats.delta, end) for *_, start, end, duration, _ in stream.get_gaps() if duration > 0]
  return stream.merge(method=1, fill_value='interpolate')[0], gaps


def reference_detrend(x, degree, anchor=None):
  """A direct least-squares fit of Legendre polynomials (LAPACK lstsq), subtracted (each row on its own);
  ``anchor`` only says which cached basis the array path spans the polynomials with."""
  x = np.asarray(x, np.float64)
  if x.ndim > 1:
    return np.stack([reference_detrend(row, degree) for row in x])
  if len(x) <= degree:
    return x - x.mean() if len(x) else x
  t = np.linspace(-1.0, 1.0, len(x))
  return x - np.polynomial.legendre.legval(t, np.polynomial.legendre.legfit(t, x, degree))


def reference_bandpass(data, freqmin, freqmax, rate, *, corners=4, zerophase=False):
  return obspy.Trace(np.asarray(data, np.float64), header={'sampling_rate': rate}).filter(
      'bandpass', freqmin=freqmin, freqmax=freqmax, corners=corners, zerophase=zerophase).data


@pytest.fixture
def reference_path(monkeypatch):
  """Swaps the array path for the reference: ObsPy reading, merging, resampling and filters, lstsq detrend."""
  def use():
    monkeypatch.setattr(preprocess, 'resample', reference_resample)
    monkeypatch.setattr(preprocess, 'merge_segments', reference_merge)
    monkeypatch.setattr(preprocess, 'polynomial_detrend', reference_detrend)
    monkeypatch.setattr(dsp, 'bandpass', reference_bandpass)
    monkeypatch.setattr(waveform_files, 'read_file', lambda path: obspy.read(str(path)))
  return use


def _assert_same_records(fast, reference):
  assert list(fast.record_ids) == list(reference.record_ids)
  for column in fast.extra:
    assert list(fast.extra[column]) == list(reference.extra[column]), column
  fast_windows, reference_windows = np.asarray(fast.waveforms), np.asarray(reference.waveforms)
  np.testing.assert_allclose(fast_windows, reference_windows, rtol=0, atol=TOLERANCE)
  return float(np.abs(fast_windows - reference_windows.astype(np.float64)).max())


def test_real_records_prepare_as_with_obspys_own_steps(shared_data, reference_path):
  root = shared_data / 'pnw'
  records = records_table.read_records_table(root / 'labels.csv', root)
  # Every input rate of the set up to three times (resampling 50, 40, 200, 500, 125, 20 -> 100 Hz), and gaps.
  with open(root / 'labels.csv', newline='') as f:
    rows = list(csv.DictReader(f))
  chosen, seen = [], {}
  for record, row in zip(records, rows):
    key = (row['sampling_rate'], row['n_segments'] != '1')
    if seen.get(key, 0) < 3:
      seen[key] = seen.get(key, 0) + 1
      chosen.append(record)
  assert {'50.0', '40.0', '200.0', '500.0', '125.0', '20.0'} <= {k[0] for k in seen} and (('100.0', True) in seen)
  options = ingest.PrepareOptions(preprocess=PreprocessConfig(max_pad_s=30))
  fast, fast_rejected = ingest.prepare_records(chosen, options)
  reference_path()
  reference, reference_rejected = ingest.prepare_records(chosen, options)
  assert fast_rejected == reference_rejected and len(fast) >= 12
  _assert_same_records(fast, reference)


def test_a_seisbench_set_prepares_as_with_obspys_own_steps(tmp_path, reference_path):
  rng = np.random.default_rng(4)
  rows = [{'source_origin_time': '2020-01-01', 'source_type': 'earthquake', 'trace_P_arrival_sample': str(p),
           'trace_sampling_rate_hz': rate} for p, rate in ((1500, '100'), (2200, '100'), (800, '50'), (1000, '40'))]
  traces = [seisbench_writer.synthetic_trace(rng, 'earthquake', samples=4000, p_sample=int(row['trace_P_arrival_sample']))
            for row in rows]
  seisbench_writer.write_chunk(tmp_path, '', rows, traces, data_format={'component_order': 'ENZ'})
  config = PreprocessConfig(window_s=20.0, bandpass=(1.0, 20.0))
  fast, _ = seisbench.read_dataset(tmp_path, config=config)
  reference_path()
  reference, _ = seisbench.read_dataset(tmp_path, config=config)
  assert len(fast) == 4 and list(fast.extra['padded_s']) != ['0.00'] * 4  # full and padded windows
  _assert_same_records(fast, reference)


def test_filters_and_decimation_are_obspys_bit_for_bit():
  rng = np.random.default_rng(0)
  data = rng.normal(size=6000).cumsum()
  for zerophase in (False, True):
    np.testing.assert_array_equal(dsp.bandpass(data, 1.0, 20.0, 100.0, zerophase=zerophase),
                                  obspy_filter.bandpass(data, 1.0, 20.0, 100.0, zerophase=zerophase))
  for rate, factor in ((200.0, 2), (500.0, 5), (1600.0, 16)):
    trace = obspy.Trace(data.copy(), header={'sampling_rate': rate})
    np.testing.assert_array_equal(dsp.decimate(data, rate, factor), trace.decimate(factor).data)


@pytest.mark.parametrize('rate', [50.0, 40.0, 20.0, 125.0, 33.0, 99.99])
def test_polyphase_lanczos_is_obspys_interpolation(rate):
  data = np.random.default_rng(1).normal(size=int(rate * 60))
  old_dt, new_dt = 1.0 / rate, 0.01
  n = int(np.floor((len(data) - 1) * old_dt / new_dt)) + 1
  expected = lanczos_interpolation(data, 0.0, old_dt, 0.0, new_dt, n, a=12)
  np.testing.assert_allclose(dsp.lanczos(data, old_dt, new_dt, n, 12), expected, rtol=0,
                             atol=1e-11 * np.abs(expected).max())


def test_detrend_matches_a_direct_least_squares_fit(shared_data):
  trace = obspy.read(str(next((shared_data / 'pnw' / 'waveforms').glob('*HHZ*'))))[0]
  for length in (10000, 9137, 12):
    x = np.asarray(trace.data[:length], np.float64) + 1e4  # a large offset: the fit must take it all
    np.testing.assert_allclose(preprocess.polynomial_detrend(x, 10), reference_detrend(x, 10), rtol=0,
                               atol=1e-9 * np.abs(x).max())


def _record_bases_built(monkeypatch):
  """The lengths whose detrend basis is asked for from now on, in order (built each time, uncached)."""
  built, build = [], dsp.detrend_basis.__wrapped__
  monkeypatch.setattr(dsp, 'detrend_basis', lambda n, degree: built.append(n) or build(n, degree))
  return built


@pytest.mark.parametrize('anchor,degree', [(10000, 10), (2000, 10), (10000, 30)])
def test_padded_windows_detrend_as_a_direct_least_squares_fit(anchor, degree, monkeypatch):
  # A window zero-padded after its detrend is fitted through the basis of a longer cached length
  # (its first n columns span the n-grid's polynomials; their Gram matrix has condition number
  # <= 10), so the fit is the least-squares one rounded differently: the difference stays at the
  # float64 rounding of the record's scale (~1e-14 of its largest sample), as with its own basis,
  # far below the 1e-6 of a standardised float32 window.
  built = _record_bases_built(monkeypatch)
  step = dsp.anchor_step.__wrapped__(anchor, degree)
  rng = np.random.default_rng(degree)
  for n in (anchor - 1, anchor - step + 1, anchor - step, anchor - 2 * step - 7, anchor - 8 * step - 3):
    t = np.linspace(-1.0, 1.0, n)
    x = np.stack([rng.normal(size=n).cumsum() + 1e4,  # a wandering baseline far from zero
                  rng.normal(size=n) + np.polynomial.legendre.legval(t, rng.normal(size=degree + 1) * 1e3)])
    np.testing.assert_allclose(preprocess.polynomial_detrend(x, degree, anchor=anchor), reference_detrend(x, degree),
                               rtol=0, atol=1e-12 * np.abs(x).max())
  # Only the lengths anchor - k * step were built: every padded length borrowed one.
  assert set(built) == {anchor, anchor - step, anchor - 2 * step, anchor - 8 * step}


def test_a_window_far_shorter_than_its_anchor_gets_its_own_basis(monkeypatch):
  # Far below the anchor a cached length's end columns hold more of its energy: where the dropped
  # ones would hold more than MAX_TAIL_ENERGY the fit takes the row's own basis instead.
  anchor, degree = 2000, 10
  step = dsp.anchor_step(anchor, degree)
  borrowed = anchor - 45 * step
  n = borrowed - step + 1
  tail = dsp.detrend_basis(borrowed, degree)[:, n:]
  assert np.trace(tail @ tail.T) > dsp.MAX_TAIL_ENERGY
  dsp.prefix_gram.cache_clear()
  built = _record_bases_built(monkeypatch)
  x = np.random.default_rng(5).normal(size=n).cumsum()
  np.testing.assert_allclose(preprocess.polynomial_detrend(x, degree, anchor=anchor), reference_detrend(x, degree),
                             rtol=0, atol=1e-12 * np.abs(x).max())
  assert built == [borrowed, n]


def test_a_full_length_window_is_detrended_on_its_own_basis_bit_for_bit():
  x = np.random.default_rng(6).normal(size=(3, 10000)).cumsum(axis=1)
  basis = dsp.detrend_basis(10000, 10)
  np.testing.assert_array_equal(preprocess.polynomial_detrend(x, 10, anchor=10000), x - (x @ basis.T) @ basis)


@pytest.mark.parametrize('text', [
    '2020-01-01', '2020-01-01T00:00:00', '2020-02-29T23:59:59Z', '1969-12-31T23:59:59.999999',
    '2012-03-04T05:06:07.1', '2012-03-04T05:06:07.123456789Z', '2012-03-04T05:06:07.0000005',
    '2012-03-04T05:06:07.0000015', '2012-03-04T05:06:07.9999996Z', '0999-01-01T00:00:00'])
def test_plain_iso_times_are_read_as_obspy_reads_them(text):
  assert record_event.utc_time(text) == obspy.UTCDateTime(text)
  assert record_event.utc_time(text)._ns == obspy.UTCDateTime(text)._ns


@pytest.mark.parametrize('text', [
    '2021-02-29', '2020-13-01T00:00:00', '2020-01-01T24:00:00', '2020-01-01T12:60:00', '2020-01-01T12:00:60',
    '9999-12-31T23:59:59.9999999', '0000-01-01', '2020-01-01T12:00', '2020-01-01 12:00:00', '2020-001',
    '2020-01-01T12:00:00+02:00', 'yesterday', '12'])
def test_other_times_are_left_to_obspy(text):
  # Text the plain form does not read (or reads as out of range) gets ObsPy's own answer, value or error.
  try:
    expected = obspy.UTCDateTime(text)
  except Exception as error:
    with pytest.raises(type(error)):
      record_event.utc_time(text)
  else:
    assert record_event.utc_time(text)._ns == expected._ns


def test_read_file_is_obspy_read(shared_data, tmp_path):
  paths = sorted((shared_data / 'pnw' / 'waveforms').iterdir())[:3] + sorted((shared_data / 'eus-sac').rglob('*.SAC'))[:2]
  compressed = tmp_path / 'record.mseed.gz'
  with open(paths[0], 'rb') as f, gzip.open(compressed, 'wb') as g:
    shutil.copyfileobj(f, g)
  for path in paths + [compressed]:
    expected, got = obspy.read(str(path)), waveform_files.read_file(path)
    assert [t.stats for t in got] == [t.stats for t in expected] and got[0].stats._format == expected[0].stats._format
    for a, b in zip(got, expected):
      np.testing.assert_array_equal(a.data, b.data)
      assert a.data.dtype == b.data.dtype
  (tmp_path / 'empty.mseed').write_bytes(b'')
  with pytest.raises(Exception) as raised:
    waveform_files.read_file(tmp_path / 'empty.mseed')
  with pytest.raises(type(raised.value)):
    obspy.read(str(tmp_path / 'empty.mseed'))


@pytest.mark.parametrize('degree', [0, 1, 10, 30])
def test_detrend_basis_is_orthonormal_on_short_and_long_grids(degree):
  # Both constructions: QR below SAMPLES_PER_DEGREE points per degree, the Gram polynomials' recurrence above.
  for n_samples in sorted({degree + 1, dsp.SAMPLES_PER_DEGREE * (degree + 1) - 1,
                           dsp.SAMPLES_PER_DEGREE * (degree + 1), 9137}):
    basis = dsp.detrend_basis(n_samples, degree)
    assert basis.shape == (degree + 1, n_samples)
    np.testing.assert_allclose(basis @ basis.T, np.eye(degree + 1), rtol=0, atol=1e-13)
    # They span the polynomials of the degree: a polynomial of the grid is its own projection.
    t = np.linspace(-1.0, 1.0, n_samples)
    polynomial = np.polynomial.legendre.legval(t, np.arange(1.0, degree + 2))
    np.testing.assert_allclose(basis.T @ (basis @ polynomial), polynomial, rtol=0, atol=1e-11 * np.abs(polynomial).max())
