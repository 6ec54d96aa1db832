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
  - ``detrend_basis``: orthonormal polynomials on n samples, so a polynomial detrend
    is two matrix-vector products;
  - ``polynomial_fit``: the least-squares polynomial of each row, on a shorter row
    (a zero-padded window) through the basis of a slightly longer cached length.
"""

from __future__ import annotations

import fractions
import functools
import math

import numpy as np
# scipy.signal and obspy.signal (which loads matplotlib) are imported where used: a worker preparing
# records that need no filter is ready about 1 s sooner.

# Largest denominator of a rate ratio taken as exact: each phase of the polyphase filter
# costs one kernel (2a+1 weights), so this bounds the work set up per ratio.
MAX_PHASES = 1000
# The polyphase positions may drift from ObsPy's by at most this many input samples over a
# record; the kernel's slope is below 2, so outputs then differ by < 2e-11 of the largest sample.
MAX_DRIFT_SAMPLES = 1e-11
# Grid points per polynomial degree from which the Gram polynomials' recurrence stays orthonormal
# to ~1e-14 (measured up to degree 50); shorter grids (never a window) use a QR factorisation.
SAMPLES_PER_DEGREE = 5
# A row shorter than a cached basis is fitted through that basis when its dropped columns hold at
# most this much of the rows' energy (trace of T T^T): the kept part's Gram matrix I - T T^T then
# has its eigenvalues in [0.1, 1], a condition number <= 10, so the fit loses at most one digit.
MAX_TAIL_ENERGY = 0.9


@functools.lru_cache(maxsize=64)
def butterworth_bandpass_sos(corners: int, low: float, high: float) -> np.ndarray:
  """``scipy.signal.iirfilter``'s Butterworth band-pass (edges as fractions of Nyquist), as ObsPy designs it."""
  import scipy.signal
  return scipy.signal.iirfilter(corners, [low, high], btype='band', ftype='butter', output='sos')


def bandpass(data: np.ndarray, freqmin: float, freqmax: float, rate: float, *, corners: int = 4,
             zerophase: bool = False) -> np.ndarray:
  """``obspy.signal.filter.bandpass(data, freqmin, freqmax, rate, corners, zerophase)``, its design cached.

  Bands reaching the Nyquist frequency go to ObsPy (which warns and high-passes, or raises).
  """
  nyquist = 0.5 * rate
  low, high = freqmin / nyquist, freqmax / nyquist
  import scipy.signal
  if high - 1.0 > -1e-6 or low > 1:
    from obspy.signal import filter as obspy_filter
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
  import scipy.signal
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
  import scipy.signal
  return scipy.signal.sosfilt(cheby2_lowpass_sos(rate * 0.5 / float(factor), rate), data)[::factor]


def lowpass(data: np.ndarray, freq: float, rate: float, *, corners: int, zerophase: bool) -> np.ndarray:
  """``obspy.signal.filter.lowpass`` (Butterworth), called directly."""
  from obspy.signal import filter as obspy_filter
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
    from obspy.signal import interpolation as obspy_interpolation
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


@functools.lru_cache(maxsize=32)
def detrend_basis(n_samples: int, degree: int) -> np.ndarray:
  """(degree + 1, n_samples) orthonormal rows spanning the polynomials of ``degree`` on n samples.

  The samples lie on [-1, 1]. Rows are the discrete orthonormal (Gram) polynomials
  of that grid, from their three-term recurrence, whose coefficients are known in
  closed form: 3 vector operations a row. It keeps them orthonormal to ~1e-14 while
  the grid has several points per degree; on shorter grids a QR factorisation of the
  Legendre basis (cheap there) gives them. The least-squares polynomial of x is
  ``Q.T @ (Q @ x)``. Read-only: it is shared. Few lengths are kept: a record's window
  has the full length unless zero-padded, and padded ones borrow the bases of a few
  lengths (``polynomial_fit``).
  """
  t = np.linspace(-1.0, 1.0, n_samples)
  if n_samples < SAMPLES_PER_DEGREE * (degree + 1):
    rows = np.ascontiguousarray(np.linalg.qr(np.polynomial.legendre.legvander(t, degree))[0].T)
  else:
    rows = np.empty((degree + 1, n_samples))
    rows[0] = 1.0 / math.sqrt(n_samples)
    # ||t q_{k-1} - b_{k-1} q_{k-2}|| for the grid's n points: b_k^2 = k^2 (n^2 - k^2) / ((4k^2 - 1) (n - 1)^2).
    b = [0.0] + [math.sqrt(k * k * (n_samples ** 2 - k * k) / ((4 * k * k - 1) * (n_samples - 1) ** 2))
                 for k in range(1, degree + 1)]
    for k in range(1, degree + 1):
      row = rows[k]
      np.multiply(t, rows[k - 1], out=row)
      if k > 1:
        row -= b[k - 1] * rows[k - 2]
      row /= b[k]
  rows.setflags(write=False)
  return rows


@functools.lru_cache(maxsize=32)
def anchor_step(anchor: int, degree: int) -> int:
  """Spacing of the cached lengths ``anchor, anchor - step, ...`` that shorter rows borrow a basis from.

  The most end columns of ``anchor``'s basis that hold at most ``MAX_TAIL_ENERGY``
  (about 0.9 n / (degree + 1)^2: each end column holds about (degree + 1)^2 / n), so a
  row less than ``step`` samples shorter than ``anchor`` drops at most that much. A
  shorter cached length holds more in each column: ``polynomial_fit`` checks again.
  """
  energy = np.cumsum(np.square(detrend_basis(anchor, degree)[:, ::-1]).sum(axis=0))
  return max(1, int(np.searchsorted(energy, MAX_TAIL_ENERGY, side='right')) + 1)


def polynomial_fit(x: np.ndarray, degree: int, anchor: int | None = None) -> np.ndarray:
  """The least-squares polynomial of ``degree`` of each row of ``x`` (float64, last axis on [-1, 1]).

  Rows of ``anchor`` samples, or of any length without one, are projected on their
  own grid's cached basis Q (``Q.T @ (Q @ x)``). A row of n < ``anchor`` samples (a
  window zero-padded after its detrend) would need a basis of its own length, which
  costs more to build than the fit, and every padded length differs. It is fitted
  instead on the first n columns A of the cached basis of the nearest length L >= n on
  the grid ``anchor - k * anchor_step``: a polynomial of the L-grid restricted to its
  first n points is a polynomial of the n-grid (the same sample spacing, another
  origin), so A's rows span the same space, and since Q's rows are orthonormal the
  Gram matrix of A is ``I - T T^T`` with T the L - n dropped columns. The fit is then
  ``(inv(I - T T^T) @ A @ x.T).T @ A``: the same polynomial, rounded differently (the
  Gram matrix's condition number is <= 10; ``prefix_gram``). A row whose dropped
  columns hold more than ``MAX_TAIL_ENERGY`` (short grids, high degrees) gets its own
  basis.

  Args:
    x: (..., n) rows, n > degree.
    degree: the polynomial degree.
    anchor: the length whose nearby shorter lengths share cached bases (the window's); None: none.

  Returns:
    The fitted polynomials, shaped as ``x``.
  """
  n = x.shape[-1]
  borrowed = prefix_gram(n, degree, anchor) if anchor is not None and n < anchor else None
  if borrowed is None:
    basis = detrend_basis(n, degree)
    return (x @ basis.T) @ basis
  length, inverse_gram = borrowed
  head = detrend_basis(length, degree)[:, :n]
  if x.ndim == 1:
    return (inverse_gram @ (head @ x)) @ head
  return np.swapaxes(inverse_gram @ (head @ np.swapaxes(x, -1, -2)), -1, -2) @ head


@functools.lru_cache(maxsize=1024)
def prefix_gram(n_samples: int, degree: int, anchor: int) -> tuple[int, np.ndarray] | None:
  """(L, inverse Gram matrix of the first ``n_samples`` columns of L's basis) for ``polynomial_fit``, or None.

  L is the nearest length ``anchor - k * anchor_step(anchor, degree)`` at or above
  ``n_samples``. None when L is ``n_samples`` itself or the columns left out hold more
  than ``MAX_TAIL_ENERGY``: the row's own basis is then the one to use. Only the
  (degree + 1)^2 inverse is kept, not the basis: a few hundred bytes a length.
  """
  step = anchor_step(anchor, degree)
  length = anchor - ((anchor - n_samples) // step) * step
  if length == n_samples:
    return None
  tail = detrend_basis(length, degree)[:, n_samples:]
  overlap = tail @ tail.T
  if np.trace(overlap) > MAX_TAIL_ENERGY:
    return None
  inverse = np.linalg.inv(np.eye(degree + 1) - overlap)
  inverse.setflags(write=False)
  return length, inverse
