"""Glitches: a few samples far beyond everything around them, found before a record is picked.

A ground motion sampled fast enough to be recorded at all lasts many samples: the
largest sample of a real arrival has neighbours of comparable size within a
fraction of a second on both sides. A telemetry or digitiser glitch (a single
1e30, a flipped bit, a fill value) does not. Left in, it becomes the STA/LTA
onset and dominates the standardised window, so the record would be classified
on one bad sample; it is refused instead, naming the trace and the sample time.

Two rules, on each sample's distance from the trace's median (its level):

  - isolated: a run of at most ``GLITCH_SAMPLES`` samples whose level exceeds
    ``GLITCH_RATIO`` times the largest level anywhere in the ``CONTEXT_S`` seconds
    on each side of it (both sides together);
  - far beyond the record: a level above ``FAR_RATIO`` times the trace's
    ``FAR_PERCENTILE``-th percentile level (a burst of glitches close together,
    which the first rule lets pass as each other's neighbours).

Levels are compared with at least that percentile and the digitiser's step, so a
count or two on a quiet or dead trace is never a glitch.
"""

from __future__ import annotations

import numpy as np
import obspy

from ganet_jax.errors import RecordRejected

GLITCH_SAMPLES = 3
GLITCH_RATIO = 50.0
CONTEXT_S = 0.5
MIN_CONTEXT_SAMPLES = 5
FAR_RATIO = 1e4
FAR_PERCENTILE = 99.0


def glitch_indices(data: np.ndarray, sampling_rate: float) -> np.ndarray:
  """Indices of the samples of ``data`` that are glitches by the module docstring's rule."""
  x = np.asarray(np.ma.getdata(data), np.float64)
  n = len(x)
  if not np.isfinite(x).all():  # NaN/inf samples have their own reason (``preprocess.reject_non_finite``)
    return np.zeros(0, np.int64)
  context = max(int(round(CONTEXT_S * sampling_rate)), MIN_CONTEXT_SAMPLES)
  if n < 2 * (GLITCH_SAMPLES + context) + 1:
    return np.zeros(0, np.int64)
  level = np.abs(x - np.median(x))
  from scipy import ndimage  # where used: a SeisBench worker never checks a trace's glitches
  # Largest level over [j - context + 1, j]: the samples just before j + 1.
  before = ndimage.maximum_filter1d(level, size=context, origin=(context - 1) // 2, mode='constant', cval=0.0)
  index = np.arange(n)
  left_end = index - GLITCH_SAMPLES - 1  # context ending GLITCH_SAMPLES before the sample
  right_end = index + GLITCH_SAMPLES + context  # context starting GLITCH_SAMPLES after it
  left = np.where(left_end >= 0, before[np.clip(left_end, 0, n - 1)], 0.0)
  right = np.where(right_end < n, before[np.clip(right_end, 0, n - 1)], 0.0)
  around = np.maximum(left, right)
  has_context = (left_end >= context - 1) | (right_end < n)
  # A few digitiser steps on a quiet or dead trace are not a glitch, however quiet around them.
  floor = max(float(np.percentile(level, FAR_PERCENTILE)), digitiser_step(x))
  isolated = has_context & (level > GLITCH_RATIO * np.maximum(around, floor))
  return np.flatnonzero(isolated | (level > FAR_RATIO * floor))


def digitiser_step(x: np.ndarray) -> float:
  """The smallest non-zero change between consecutive samples (1 for counts), 0 for a constant trace."""
  steps = np.abs(np.diff(x))
  steps = steps[steps > 0]
  return float(steps.min()) if len(steps) else 0.0


def check_glitches(trace: obspy.Trace) -> None:
  """Refuses a trace holding a glitch (module docstring).

  Raises:
    RecordRejected: naming the trace, the first glitch's time and value, and how many samples.
  """
  found = glitch_indices(trace.data, trace.stats.sampling_rate)
  if not len(found):
    return
  first = int(found[0])
  value = float(np.ma.getdata(trace.data)[first])
  raise RecordRejected(f'{trace.id}: glitch at {trace.stats.starttime + first * trace.stats.delta} '
                       f'(sample {value:.3g}, far beyond the samples around it and '
                       f'the record\'s level; {len(found)} such samples): remove or repair it before classifying (e.g. set it to the '
                       'mean of its neighbours, or mask it as a gap)')
