"""ganet_jax: GA-Net (ghost modules + CBAM) for tectonic vs non-tectonic seismic event discrimination.

Layers, first to last (each imports only from its own and those before it; tests/test_layering.py):

  conventions, errors, sharding, progress, provenance, compilation_cache, json_settings, lazy_loading
                                  record layout and labels, exception types, device meshes, progress lines,
                                  the code's version and commit, the compilation cache, JSON settings read back,
                                  a package's names loaded on first use
  nn/                             layers: ghost modules, CBAM, depthwise and small-channel 1-D convolutions
  data/                           record sets, reading and preparing real records, splits, imbalance sampling
  models/                         GA-Net, Table 1's comparison networks, parameter and FLOP counts
  evaluation/                     probabilities over a record set, metrics, intervals, controls, figures, physics
  training/                       settings, losses, the train step, checkpoints, one run (train + evaluate)
  pretrained/                     the shipped models' folders
  classify/                       a trained run or ensemble applied to new records; the model folder's format
  studies/                        the paper's studies, the real-data and generalisation studies

The layers and models named here load on first use, so a process that only
prepares records (a preparation worker) never imports JAX.
"""

from ganet_jax.lazy_loading import lazy_exports as _lazy_exports

__version__ = '0.2.0'

_EXPORTS = {'GANet': 'ganet_jax.models', 'build_model': 'ganet_jax.models',
            **{name: 'ganet_jax.nn' for name in ('BatchNorm', 'CBAM', 'ChannelAttention', 'Conv', 'DepthwiseConv1D',
                                                 'GhostBottleneck', 'GhostModule', 'PointwiseConv',
                                                 'SpatialAttention', 'depthwise_conv1d')}}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = _lazy_exports(globals(), _EXPORTS)
