"""A built-in synthetic data set: tectonic earthquakes, explosions and collapses.

Every record is a 3-component (Z, N, E) 100 Hz window that starts at the P onset,
like the paper's input. The classes differ by the discriminants the paper and
its references name, each drawn from overlapping ranges so the task is not a
single threshold:

  class        P/S amplitude      dominant frequency       duration / coda       other
  earthquake   P weak, S strong   P 5-12 Hz, S 3-8 Hz      long coda, 15-40 s    S on horizontals
  explosion    P strong, S weak   P 10-20 Hz, S 8-15 Hz    short coda, 1-4 s     shallow: Rg 0.5-1.5 Hz
  collapse     P weak             long period 0.3-1.5 Hz   longest, 20-50 s      dilatational first motion

Distance (S-P time, ~0.12 s/km with Vp 6 and Vs 3.5 km/s), magnitude (sets the
signal-to-noise ratio with distance) and station count per event vary. Origin
times are spread over ``years`` so ``chronological_split(records, ['2017-01-01'])``
is the paper's split. Each record is scaled to unit peak over its three
components, which keeps its P/S ratio and spectrum. Everything derives from
``seed``: the same arguments give the same records bit for bit.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ganet_jax.conventions import EPSILON, NON_TECTONIC, SAMPLING_RATE, TECTONIC, WINDOW_SAMPLES
from ganet_jax.data.records import RecordSet

EVENT_TYPES = ('earthquake', 'explosion', 'collapse')
S_MINUS_P_SECONDS_PER_KM = 1 / 3.5 - 1 / 6.0
RG_VELOCITY_KM_S = 2.8


@dataclasses.dataclass(frozen=True)
class SourceStyle:
  """Ranges (low, high) that one event type draws its waveform parameters from."""
  p_frequency: tuple[float, float]
  s_frequency: tuple[float, float]
  p_to_s_amplitude: tuple[float, float]
  coda_seconds: tuple[float, float]
  rg_amplitude: tuple[float, float] = (0.0, 0.0)
  first_motion: float = 1.0


STYLES = {
    'earthquake': SourceStyle(p_frequency=(5, 12), s_frequency=(3, 8), p_to_s_amplitude=(0.1, 0.4),
                              coda_seconds=(15, 40)),
    'explosion': SourceStyle(p_frequency=(10, 20), s_frequency=(8, 15), p_to_s_amplitude=(1.5, 4.0),
                             coda_seconds=(1, 4), rg_amplitude=(0.5, 1.5)),
    'collapse': SourceStyle(p_frequency=(0.3, 1.5), s_frequency=(0.3, 1.5), p_to_s_amplitude=(0.3, 0.8),
                            coda_seconds=(20, 50), first_motion=-1.0),
}


def make_synthetic(num_events: int = 55, *, seed: int = 0, samples: int = WINDOW_SAMPLES,
                   stations_per_event: tuple[int, int] = (2, 4),
                   type_shares: tuple[float, float, float] = (0.6, 0.15, 0.25),
                   years: tuple[int, int] = (2009, 2018)) -> RecordSet:
  """Synthetic records of earthquakes, explosions and collapses.

  Args:
    num_events: events to simulate.
    seed: everything (types, times, distances, waveforms) derives from it.
    samples: window length (10000 = 100 s at 100 Hz; tests use shorter windows:
      the same events, stations and source parameters, a shorter record).
    stations_per_event: inclusive range of records per event.
    type_shares: probabilities of earthquake, explosion, collapse.
    years: first and last year (inclusive) of the origin times.

  Returns:
    A ``RecordSet`` with labels 0 (earthquake) / 1 (explosion, collapse), event ids,
    origin times and event types, and extra columns ``station``, ``distance_km``,
    ``magnitude``.
  """
  if num_events < 1 or samples < 16:
    raise ValueError(f'need num_events >= 1 and samples >= 16, got {num_events} and {samples}')
  rng = np.random.default_rng(seed)
  start = np.datetime64(f'{years[0]}-01-01', 'ms').astype(np.int64)
  stop = np.datetime64(f'{years[1] + 1}-01-01', 'ms').astype(np.int64)
  origin_times = np.sort(rng.integers(start, stop, num_events)).astype('datetime64[ms]')
  types = rng.choice(EVENT_TYPES, size=num_events, p=np.asarray(type_shares) / np.sum(type_shares))

  columns = {name: [] for name in ('waveforms', 'labels', 'event_ids', 'origin_times', 'event_types',
                                   'record_ids', 'station', 'distance_km', 'magnitude')}
  for event, (origin, event_type) in enumerate(zip(origin_times, types)):
    event_id = f'syn{event:05d}'
    magnitude = rng.uniform(1.6, 4.0)
    stations = rng.choice(49, size=rng.integers(stations_per_event[0], stations_per_event[1] + 1),
                          replace=False)
    for station in stations:
      distance_km = rng.uniform(15, 200)
      # A stream per record: the catalogue does not depend on the window length.
      waveform_rng = np.random.default_rng([seed, len(columns['waveforms'])])
      columns['waveforms'].append(
          _record(waveform_rng, STYLES[event_type], magnitude, distance_km, samples))
      columns['labels'].append(TECTONIC if event_type == 'earthquake' else NON_TECTONIC)
      columns['event_ids'].append(event_id)
      columns['origin_times'].append(origin)
      columns['event_types'].append(event_type)
      columns['record_ids'].append(f'SN.S{station:02d}.{event_id}')
      columns['station'].append(f'S{station:02d}')
      columns['distance_km'].append(f'{distance_km:.1f}')
      columns['magnitude'].append(f'{magnitude:.2f}')
  return RecordSet(
      waveforms=np.stack(columns['waveforms']).astype(np.float32),
      labels=np.asarray(columns['labels'], np.int32),
      event_ids=np.asarray(columns['event_ids']),
      origin_times=np.asarray(columns['origin_times'], 'datetime64[ms]'),
      event_types=np.asarray(columns['event_types']),
      record_ids=np.asarray(columns['record_ids']),
      extra={name: np.asarray(columns[name]) for name in ('station', 'distance_km', 'magnitude')})


def _record(rng: np.random.Generator, style: SourceStyle, magnitude: float, distance_km: float,
            samples: int) -> np.ndarray:
  """One (samples, 3) window starting at the P onset, scaled to unit peak."""
  time = np.arange(samples) / SAMPLING_RATE
  uniform = lambda bounds: rng.uniform(*bounds)
  s_time = distance_km * S_MINUS_P_SECONDS_PER_KM
  coda = uniform(style.coda_seconds) * (1 + 0.3 * (magnitude - 1.6))
  p_amplitude = uniform(style.p_to_s_amplitude)

  # P: mostly vertical; S: mostly horizontal with a random back-azimuth.
  p_wave = _burst(rng, time, 0.0, uniform(style.p_frequency), coda / 3, style.first_motion)
  s_wave = _burst(rng, time, s_time, uniform(style.s_frequency), coda, 1.0)
  azimuth = rng.uniform(0, 2 * np.pi)
  incidence = rng.uniform(0.1, 0.4)
  z = p_amplitude * p_wave * np.cos(incidence) + 0.2 * s_wave
  n = p_amplitude * p_wave * np.sin(incidence) * np.cos(azimuth) + s_wave * np.cos(azimuth + np.pi / 2)
  e = p_amplitude * p_wave * np.sin(incidence) * np.sin(azimuth) + s_wave * np.sin(azimuth + np.pi / 2)
  signal = np.stack([z, n, e], axis=-1)
  if style.rg_amplitude[1] > 0:
    # Rg: short-period fundamental-mode Rayleigh wave of shallow sources, on Z and radial.
    rg = uniform(style.rg_amplitude) * _burst(rng, time, distance_km / RG_VELOCITY_KM_S,
                                              rng.uniform(0.5, 1.5), rng.uniform(5, 15), 1.0)
    signal += rg[:, None] * np.array([1.0, 0.7 * np.cos(azimuth), 0.7 * np.sin(azimuth)])

  # Amplitude falls with distance and grows with magnitude; noise sets the floor.
  snr = 10 ** (magnitude - 1.6) * 300.0 / distance_km
  signal *= snr / max(np.max(np.abs(signal)), EPSILON)
  noise = _band_noise(rng, samples, 3, low=0.2, high=20.0) + rng.normal(0, 0.1, (samples, 3))
  record = signal + noise
  return record / np.max(np.abs(record))


def _burst(rng: np.random.Generator, time: np.ndarray, onset: float, frequency: float,
           decay_seconds: float, first_motion: float) -> np.ndarray:
  """A band-limited wave train around ``frequency`` starting at ``onset`` with an exponential coda."""
  after = np.clip(time - onset, 0, None)
  rise = 1 - np.exp(-after * frequency * 2)
  envelope = np.where(time >= onset, rise * np.exp(-after / decay_seconds), 0.0)
  carrier = _band_noise(rng, len(time), 1, low=frequency / 1.5, high=frequency * 1.5)[:, 0]
  # The first half-cycle carries the source's first-motion polarity.
  carrier += first_motion * np.sin(2 * np.pi * frequency * after) * np.exp(-after * frequency)
  return envelope * carrier


def _band_noise(rng: np.random.Generator, samples: int, channels: int, *, low: float,
                high: float) -> np.ndarray:
  """Gaussian noise band-passed to [low, high] Hz (brick-wall in the Fourier domain), unit std."""
  spectrum = np.fft.rfft(rng.normal(size=(samples, channels)), axis=0)
  frequencies = np.fft.rfftfreq(samples, 1 / SAMPLING_RATE)
  spectrum[(frequencies < low) | (frequencies > high)] = 0
  noise = np.fft.irfft(spectrum, n=samples, axis=0)
  return noise / max(np.std(noise), EPSILON)
