"""ganet_jax: GA-Net (ghost modules + CBAM) for tectonic vs non-tectonic seismic event discrimination.

Layers, first to last (each imports only from its own and those before it; tests/test_layering.py):

  conventions, errors, sharding, progress, provenance, compilation_cache, json_settings
                                  record layout and labels, exception types, device meshes, progress lines,
                                  the code's version and commit, the compilation cache, JSON settings read back
  nn/                             layers: ghost modules, CBAM, depthwise and small-channel 1-D convolutions
  data/                           record sets, reading and preparing real records, splits, imbalance sampling
  models/                         GA-Net, Table 1's comparison networks, parameter and FLOP counts
  evaluation/                     probabilities over a record set, metrics, intervals, controls, figures, physics
  training/                       settings, losses, the train step, checkpoints, one run (train + evaluate)
  pretrained/                     the shipped models' folders
  classify/                       a trained run or ensemble applied to new records; the model folder's format
  studies/                        the paper's studies, the real-data and generalisation studies
"""

from ganet_jax.models import GANet, build_model
from ganet_jax.nn import (CBAM, BatchNorm, ChannelAttention, DepthwiseConv1D, GhostBottleneck, GhostModule,
                          PointwiseConv, SpatialAttention, depthwise_conv1d)

__version__ = '0.2.0'

__all__ = ['BatchNorm', 'CBAM', 'ChannelAttention', 'DepthwiseConv1D', 'GANet', 'GhostBottleneck', 'GhostModule',
           'PointwiseConv', 'SpatialAttention', 'build_model', 'depthwise_conv1d']
