"""ObsPy's filters, decimation and Lanczos resampling on NumPy arrays, designed once.

ObsPy's ``Trace`` methods look their function up through package metadata and log
each call in ``stats.processing``, and its filter functions design the filter at
every call; for a record of a few thousand samples that costs more than the
filtering. These functions compute the same thing on arrays, with each design
(and each polynomial basis) cached per parameter set:

  - ``bandpass``: ``obspy.signal.filter.bandpass`` (the same ``iirfilter`` design and
    ``sosfilt`` passes, so the same samples bit for bit);
  - ``decimate``: ``Trace.decimate`` with its automatic Chebyshev II low-pass
    (``obspy.signal.filter.lowpass_cheby_2``'s design, bit for bit);
  - ``lanczos``: ``Trace.interpolate(method='lanczos')`` for rate ratios of small
    integers (50 -> 100 Hz, 40 -> 100 Hz, ...) as a polyphase filter: the kernel weights
    are computed once per phase instead of at every output sample. The sums are the
    same; their rounding differs (about 1e-15 of the signal's amplitude), other
    ratios go to ObsPy's own routine;
  - ``detrend_basis``: the Legendre polynomials on n samples and their inverse Gram
    matrix, so a polynomial detrend is three matrix-vector products.
"""

from __future__ import annotations

import fractions
import functools
import math

import numpy as np
import scipy.signal
from obspy.signal import filter as obspy_filter
from obspy.signal import interpolation as obspy_interpolation

# Largest denominator of a rate ratio taken as exact: each phase of the polyphase filter
# costs one kernel (2a+1 weights), so this bounds the work set up per ratio.
MAX_PHASES = 1000
# The polyphase positions may drift from ObsPy's by at most this many input samples over a
# record; the kernel's slope is below 2, so outputs then differ by < 2e-11 of the largest sample.
MAX_DRIFT_SAMPLES = 1e-11


@functools.lru_cache(maxsize=64)
def butterworth_bandpass_sos(corners: int, low: float, high: float) -> np.ndarray:
  """``scipy.signal.iirfilter``'s Butterworth band-pass (edges as fractions of Nyquist), as ObsPy designs it."""
  return scipy.signal.iirfilter(corners, [low, high], btype='band', ftype='butter', output='sos')


def bandpass(data: np.ndarray, freqmin: float, freqmax: float, rate: float, *, corners: int = 4,
             zerophase: bool = False) -> np.ndarray:
  """``obspy.signal.filter.bandpass(data, freqmin, freqmax, rate, corners, zerophase)``, its design cached.

  Bands reaching the Nyquist frequency go to ObsPy (which warns and high-passes, or raises).
  """
  nyquist = 0.5 * rate
  low, high = freqmin / nyquist, freqmax / nyquist
  if high - 1.0 > -1e-6 or low > 1:
    return obspy_filter.bandpass(data, freqmin, freqmax, rate, corners=corners, zerophase=zerophase)
  sos = butterworth_bandpass_sos(corners, low, high)
  if not zerophase:
    return scipy.signal.sosfilt(sos, data)
  first = np.flip(scipy.signal.sosfilt(sos, data))
  return np.flip(scipy.signal.sosfilt(sos, first))


@functools.lru_cache(maxsize=64)
def cheby2_lowpass_sos(freq: float, rate: float, maxorder: int = 12) -> np.ndarray:
  """``obspy.signal.filter.lowpass_cheby_2``'s design: the Chebyshev II low-pass of order <= ``maxorder``
  with 96 dB stop band from ``freq``, its pass band narrowed by 1% steps until the order fits."""
  nyquist = rate * 0.5
  rp, rs, order = 1, 96, 1e99
  ws = min(freq / nyquist, 1.0)
  wp = ws
  while order > maxorder:
    wp = wp * 0.99
    order, wn = scipy.signal.cheb2ord(wp, ws, rp, rs, analog=0)
  return scipy.signal.cheby2(order, rs, wn, btype='low', analog=0, output='sos')


def decimate(data: np.ndarray, rate: float, factor: int) -> np.ndarray:
  """``Trace.decimate(factor)``'s samples: low-passed below the new Nyquist frequency, then every ``factor``-th."""
  if factor > 16:
    raise ArithmeticError(f'decimation by {factor}: the automatic filter is unstable above 16')
  return scipy.signal.sosfilt(cheby2_lowpass_sos(rate * 0.5 / float(factor), rate), data)[::factor]


def lowpass(data: np.ndarray, freq: float, rate: float, *, corners: int, zerophase: bool) -> np.ndarray:
  """``obspy.signal.filter.lowpass`` (Butterworth), called directly."""
  return obspy_filter.lowpass(data, freq, rate, corners=corners, zerophase=zerophase)


def lanczos(data: np.ndarray, old_dt: float, new_dt: float, new_npts: int, a: int) -> np.ndarray:
  """``obspy.signal.interpolation.lanczos_interpolation`` from the first sample on (window 'lanczos').

  Output sample j lies at input position ``j * new_dt / old_dt`` and is the sum of the
  input samples i within ``a`` of it, weighted by ``sinc(x - i) * sinc((x - i) / a)``
  (samples outside the record count as zeros). When that ratio is p/q in small
  integers, outputs j and j + q lie at the same fraction past an input sample, so
  the q kernels are computed once and applied as a polyphase filter.
  """
  data = np.require(data, dtype=np.float64)
  step = float(new_dt) / old_dt
  ratio = fractions.Fraction(step).limit_denominator(MAX_PHASES)
  if abs(step - float(ratio)) * new_npts > MAX_DRIFT_SAMPLES or new_npts < 1:
    return obspy_interpolation.lanczos_interpolation(data, 0.0, old_dt, 0.0, new_dt, new_npts, a=a)
  p, q = ratio.numerator, ratio.denominator
  offsets = np.arange(-a, a + 1)
  padded = np.concatenate([np.zeros(a + 1), data, np.zeros(a + p + 1)])  # zeros outside the record
  out = np.empty(new_npts)
  for phase in range(min(q, new_npts)):
    position = step * phase  # as ObsPy computes the position of output ``phase``
    first = math.floor(position)
    distance = (position - first) + offsets  # x - i for the inputs i = first - offsets
    weights = np.where(np.abs(distance) <= a, np.sinc(distance) * np.sinc(distance / a), 0.0)
    # Output phase + n*q sums weights[k] * data[first + n*p - offsets[k]], that is
    # padded[first + 2a + 1 + n*p - k]: entry first + 2a + 1 + n*p of the full convolution.
    count = len(range(phase, new_npts, q))
    start = first + 2 * a + 1
    out[phase::q] = np.convolve(padded, weights)[start:start + p * count:p]
  return out


@functools.lru_cache(maxsize=8)
def detrend_basis(n_samples: int, degree: int) -> tuple[np.ndarray, np.ndarray]:
  """(V, G^-1): the Legendre polynomials up to ``degree`` on n samples spanning [-1, 1], one a row
  (``legvander``'s transpose, same recurrence), and the inverse of their Gram matrix G = V V^T.

  The least-squares polynomial of x is ``V.T @ (G^-1 @ (V @ x))``. G is nearly
  diagonal (condition number about 2 x degree), so its explicit inverse is as accurate
  as a solve. Read-only: they are shared. Few lengths are kept: a record's window has
  the full length unless zero-padded.
  """
  t = np.linspace(-1.0, 1.0, n_samples)
  rows = np.empty((degree + 1, n_samples))
  rows[0] = 1.0
  if degree > 0:
    rows[1] = t
  for i in range(2, degree + 1):
    rows[i] = (rows[i - 1] * t * (2 * i - 1) - rows[i - 2] * (i - 1)) / i
  inverse_gram = np.linalg.inv(rows @ rows.T)
  for array in (rows, inverse_gram):
    array.setflags(write=False)
  return rows, inverse_gram
