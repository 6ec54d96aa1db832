"""The model's window of a record: the components' common span, cut from the P onset, and what it holds."""

from __future__ import annotations

import math
from typing import Iterable, Mapping, NamedTuple, Sequence

import numpy as np
import obspy

from ganet_jax import conventions
from ganet_jax.data import noise as noise_lib
from ganet_jax.data import preprocess
from ganet_jax.data.preprocess import PreprocessConfig
from ganet_jax.errors import RecordRejected


def common_span(traces: dict[int, obspy.Trace]) -> tuple[obspy.UTCDateTime, dict[int, np.ndarray]]:
  """Start time and same-length sample arrays of all components (same rate)."""
  rate = next(iter(traces.values())).stats.sampling_rate
  start = max(t.stats.starttime for t in traces.values())
  end = min(t.stats.endtime for t in traces.values())
  if end <= start:
    raise RecordRejected('components do not overlap in time')
  n = int(math.floor((end - start) * rate)) + 1
  arrays = {}
  for slot, trace in traces.items():
    first = int(round((start - trace.stats.starttime) * rate))
    arrays[slot] = np.asarray(trace.data[first:first + n], dtype=np.float64)
  n = min(len(a) for a in arrays.values())
  return start, {slot: a[:n] for slot, a in arrays.items()}


class ModelWindow(NamedTuple):
  """A record's window as the model takes it, and what it holds."""
  window: np.ndarray       # (window_samples, 3) float32 in ``conventions.COMPONENT_ORDER``
  present: str             # the components that carry signal, e.g. 'ZNE' or 'Z'
  flat: frozenset[int]     # component slots that are flat (zero variance)
  recorded_samples: int    # samples recorded from the P onset; the rest of the window is zero padding
  noise: np.ndarray | None = None  # (noise_samples, 3) pre-event noise, scaled as the window; None without noise_s
  noise_kept_s: float = 0.0  # seconds of real noise in it (less than noise_s under the 'shorter' fallback)

  def padded_s(self, config: PreprocessConfig) -> float:
    """Seconds of zero padding at the window's end."""
    return (config.window_samples - self.recorded_samples) / config.sampling_rate


def assemble_window(arrays: Mapping[int, np.ndarray], start: obspy.UTCDateTime, onset: obspy.UTCDateTime,
                    config: PreprocessConfig, *, flat: Iterable[int] = (), origin: obspy.UTCDateTime | None = None,
                    gaps: Sequence = ()) -> ModelWindow:
  """The model's window of a record's components, each at ``config.sampling_rate`` from ``start``.

  Each component is band-passed over the whole record, cut from the P onset,
  detrended, zero-padded at the end and normalised (``config.normalization``;
  ``noise.normalise_window``); components absent from ``arrays`` are zero-filled.
  With ``config.noise_s`` the pre-event noise is cut from the same band-passed
  record (``noise.cut_noise``) and scaled as its window.

  Args:
    arrays: {component slot: samples} of the components kept.
    start: the time of every array's first sample.
    onset: the P onset: the window's first sample.
    config: the signal parameters.
    flat: slots already known to be flat (e.g. before cutting); a component whose
      window turns out flat is added.
    origin: the event's origin time (needed with ``config.noise_s``: the noise ends before it).
    gaps: (start, end) times of the record's interpolated gaps (checked inside the noise).

  Returns:
    The window, the components carrying signal, the flat slots and the recorded samples.

  Raises:
    RecordRejected: when the onset is outside a component, or a component ends
      more than ``config.max_pad_s`` before the window does.
  """
  rate = config.sampling_rate
  if config.noise_s > 0 and origin is None:
    raise RecordRejected('no origin time: the pre-event noise (noise_s) ends before it')
  # The picker has its own band (PickerConfig), so it ran on the unfiltered record.
  filtered = {slot: preprocess.bandpass_record(data, rate, config) for slot, data in arrays.items()}
  cut = {slot: preprocess.cut_window(data, start, rate, onset, config) for slot, data in filtered.items()}
  noises, noise_kept_s = noise_lib.cut_noise(filtered, start, origin, onset, gaps, config)
  channels, noise_channels, flat = {}, {}, set(flat) & set(arrays)
  for slot, data in cut.items():
    channels[slot], noise_channels[slot], dead = noise_lib.normalise_window(data, noises.get(slot), config)
    if dead:
      flat.add(slot)
  window, _ = preprocess.assemble_components(channels, config.window_samples)
  noise = preprocess.assemble_components(noise_channels, config.noise_samples)[0] if noises else None
  present = ''.join(c for i, c in enumerate(conventions.COMPONENT_ORDER) if i in channels and i not in flat)
  return ModelWindow(window, present, frozenset(flat), min(len(data) for data in cut.values()), noise, noise_kept_s)
