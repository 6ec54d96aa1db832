"""Layers: ghost modules, CBAM attention and the 1-D convolutions they are built from."""

from ganet_jax.nn.conv1d import conv1d
from ganet_jax.nn.depthwise import depthwise_conv1d, grouped_depthwise_conv1d, same_padding
from ganet_jax.nn.layers import (CBAM, BatchNorm, ChannelAttention, Conv, Conv1D, ConvModule, DepthwiseConv1D,
                                 GhostBottleneck, GhostModule, PointwiseConv, SpatialAttention, apply_norm,
                                 keeping_bound)
from ganet_jax.nn.precision import cast_floating

__all__ = ['BatchNorm', 'CBAM', 'ChannelAttention', 'Conv', 'Conv1D', 'ConvModule', 'DepthwiseConv1D',
           'GhostBottleneck', 'GhostModule', 'PointwiseConv', 'SpatialAttention', 'apply_norm', 'cast_floating',
           'conv1d', 'depthwise_conv1d', 'grouped_depthwise_conv1d', 'keeping_bound', 'same_padding']
