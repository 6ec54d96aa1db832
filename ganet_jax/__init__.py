"""ganet_jax: GA-Net (ghost modules + CBAM) for tectonic vs non-tectonic seismic event discrimination."""

from ganet_jax.depthwise import depthwise_conv1d
from ganet_jax.models import GANet
from ganet_jax.modules import (CBAM, ChannelAttention, DepthwiseConv1D, GhostBottleneck, GhostModule,
                               SpatialAttention)

__version__ = '0.1.0'
