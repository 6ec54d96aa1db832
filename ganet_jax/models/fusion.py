"""GA-Net fused with physics: the network's pooled features and the window's band spectrum in one head.

Discriminants from the seismological literature read a record's spectrum: explosions
and collapses are richer in some bands than earthquakes of the same size. ``GANetFusion``
computes such features in the network's own graph, from the same window: the log
mean power of the vertical component in fixed bands (1-2, 2-4, 4-8, 8-12, 12-18 Hz by
default, each clipped at the Nyquist frequency), minus their mean over the bands, so
that they hold the spectrum's shape and not its level (a level follows the magnitude
and the distance, not the source). On windows whitened by their own pre-event noise
(``PreprocessConfig.normalization='noise_whiten'``) that shape is relative to the
record's noise, which carries the station's response. A learned per-band affine map
lets the head weigh them; GA-Net's pooled features are projected to a few features
first, so that the 448 of a narrow GA-Net do not swamp the five bands. One dense
layer classifies the two together, trained end to end by the library's usual step.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from ganet_jax import conventions
from ganet_jax.models.ganet import GANet

__all__ = ['BAND_EDGES_HZ', 'GANetFusion', 'band_log_powers', 'bands_below_nyquist']

BAND_EDGES_HZ = (1.0, 2.0, 4.0, 8.0, 12.0, 18.0)  # consecutive edges: 1-2, 2-4, 4-8, 8-12, 12-18 Hz


def bands_below_nyquist(edges: Sequence[float], sampling_rate: float) -> tuple[tuple[float, float], ...]:
  """The (low, high) bands of consecutive ``edges``, the high ends clipped at the Nyquist frequency.

  Bands starting at or above the Nyquist frequency are left out.

  Raises:
    ValueError: edges not increasing or fewer than two, a rate <= 0, or no band below the Nyquist frequency.
  """
  edges = tuple(float(e) for e in edges)
  if len(edges) < 2 or any(not lo < hi for lo, hi in zip(edges, edges[1:])) or edges[0] < 0:
    raise ValueError(f'band_edges must be >= 2 increasing frequencies >= 0 Hz, got {edges}')
  if not sampling_rate > 0:
    raise ValueError(f'sampling_rate must be > 0 Hz, got {sampling_rate}')
  nyquist = sampling_rate / 2
  bands = tuple((lo, min(hi, nyquist)) for lo, hi in zip(edges, edges[1:]) if lo < nyquist)
  if not bands:
    raise ValueError(f'no band of band_edges {edges} lies below the Nyquist frequency {nyquist:g} Hz')
  return bands


def _band_means(samples: int, sampling_rate: float, bands: Sequence[tuple[float, float]]) -> np.ndarray:
  """(rfft bins, bands) matrix whose product with a power spectrum gives each band's mean power."""
  frequencies = np.fft.rfftfreq(samples, 1 / sampling_rate)
  nyquist = sampling_rate / 2
  # each band takes [low, high); the last one clipped at the Nyquist frequency keeps that bin
  inside = np.stack([(frequencies >= lo) & ((frequencies < hi) | ((hi == nyquist) & (frequencies == hi)))
                     for lo, hi in bands], axis=1)
  counts = inside.sum(axis=0)
  if not counts.all():
    empty = [f'{lo:g}-{hi:g} Hz' for (lo, hi), c in zip(bands, counts) if not c]
    raise ValueError(f'a {samples}-sample window at {sampling_rate:g} Hz has no frequency bin in the band(s) '
                     f'{", ".join(empty)} (bins are {sampling_rate / samples:g} Hz apart)')
  return (inside / counts).astype(np.float32)


def band_log_powers(waveform: jax.Array, sampling_rate: float, bands: Sequence[tuple[float, float]]) -> jax.Array:
  """Log mean power of a (batch, time) waveform in each band, minus their mean over the bands.

  The waveform is demeaned and Hann-tapered before its FFT (the taper keeps a strong
  band's power from leaking into its neighbours). Subtracting the mean over bands
  leaves the spectrum's shape: multiplying the waveform by a constant changes nothing.

  Args:
    waveform: (batch, time) float samples.
    sampling_rate: its rate, Hz.
    bands: (low, high) Hz pairs (``bands_below_nyquist``).

  Returns:
    (batch, bands) float32 features, summing to 0 over the bands.
  """
  waveform = jnp.asarray(waveform, jnp.float32)
  samples = waveform.shape[-1]
  waveform = waveform - jnp.mean(waveform, axis=-1, keepdims=True)
  power = jnp.square(jnp.abs(jnp.fft.rfft(waveform * jnp.hanning(samples), axis=-1)))
  band_power = power @ jnp.asarray(_band_means(samples, sampling_rate, bands))
  # the floor is relative, so an all-zero window (e.g. initialisation's) gives zeros, not NaN
  floor = conventions.EPSILON * jnp.mean(band_power, axis=-1, keepdims=True) + jnp.finfo(jnp.float32).tiny
  log_power = jnp.log(band_power + floor)
  return log_power - jnp.mean(log_power, axis=-1, keepdims=True)


class GANetFusion(GANet):
  """GA-Net whose classifier also reads the window's band spectrum (this module's docstring).

  Attributes:
    (GA-Net's): as ``GANet``; ``width``, ``num_bottlenecks`` etc. shape the network
      part alike, and its parameters keep GA-Net's names (an encoder pretrained for
      GA-Net initialises it).
    sampling_rate: the windows' rate, Hz (must be the training set's: ``experiment.run``
      checks it).
    band_edges: consecutive band edges, Hz; bands at or above the Nyquist frequency are dropped.
    component: the channel the band features read (the vertical, in the model's ZNE order).
    projection_features: GA-Net's pooled features are mapped linearly to this many
      before they meet the band features; 0 keeps them all.
    band_affine: learn a scale and offset per band feature (starting at 1 and 0).
  """
  sampling_rate: float = conventions.SAMPLING_RATE
  band_edges: Sequence[float] = BAND_EDGES_HZ
  component: int = conventions.COMPONENT_ORDER.index('Z')
  projection_features: int = 16
  band_affine: bool = True

  HEAD = ('projection', 'band_scale', 'band_offset', 'classifier')  # as GANet.HEAD: what reads the features

  def setup(self):
    super().setup()
    if self.projection_features < 0:
      raise ValueError(f'projection_features must be >= 0, got {self.projection_features}')
    bands = bands_below_nyquist(self.band_edges, self.sampling_rate)
    if self.projection_features:
      self.projection = nn.Dense(self.projection_features, dtype=self.dtype, param_dtype=self.param_dtype)
    if self.band_affine:
      self.band_scale = self.param('band_scale', nn.initializers.ones, (len(bands),), self.param_dtype)
      self.band_offset = self.param('band_offset', nn.initializers.zeros, (len(bands),), self.param_dtype)

  def band_features(self, x: jax.Array) -> jax.Array:
    """(batch, bands) level-free log band powers of ``component`` of (batch, time, channels) windows."""
    if not 0 <= self.component < x.shape[-1]:
      raise ValueError(f'component {self.component} is not a channel of {x.shape[-1]}-channel windows')
    bands = bands_below_nyquist(self.band_edges, self.sampling_rate)
    return band_log_powers(x[..., self.component], self.sampling_rate, bands)

  def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
    """Logits for a batch of records.

    Args:
      x: (batch, time, channels) waveforms.
      train: as in ``GANet.__call__``.

    Returns:
      (batch, num_classes) logits.
    """
    pooled = self.features(x, train=train)
    if self.projection_features:
      pooled = self.projection(pooled)
    bands = self.band_features(x)
    if self.band_affine:
      bands = bands * self.band_scale + self.band_offset
    # dropout on the network's part only: five band features are too few to drop
    pooled = self.head_dropout(pooled, deterministic=not train)
    return self.classifier(jnp.concatenate([pooled, bands.astype(pooled.dtype)], axis=-1))
