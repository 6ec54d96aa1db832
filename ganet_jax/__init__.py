"""ganet_jax: GA-Net (ghost modules + CBAM) for tectonic vs non-tectonic seismic event discrimination.

Layers, bottom to top (each imports only those below it):

  conventions, errors, sharding,  record layout and labels, exception types, device meshes,
  provenance                      the code's version and commit
  nn/                             layers: ghost modules, CBAM, depthwise and small-channel 1-D convolutions
  data/                           record sets, reading and preparing real records, splits, imbalance sampling
  models/                         GA-Net, Table 1's comparison networks, parameter and FLOP counts
  evaluation/                     probabilities over a record set, metrics, intervals, controls, figures, physics
  training/                       settings, losses, the train step, checkpoints, one run (train + evaluate)
  studies/                        the paper's studies: configurations x seeds, tables and figures
  classify/                       a trained run or ensemble applied to new records
"""

from ganet_jax.models import GANet, build_model
from ganet_jax.nn import (CBAM, BatchNorm, ChannelAttention, DepthwiseConv1D, GhostBottleneck, GhostModule,
                          PointwiseConv, SpatialAttention, depthwise_conv1d)

__version__ = '0.2.0'

__all__ = ['BatchNorm', 'CBAM', 'ChannelAttention', 'DepthwiseConv1D', 'GANet', 'GhostBottleneck', 'GhostModule',
           'PointwiseConv', 'SpatialAttention', 'build_model', 'depthwise_conv1d']
