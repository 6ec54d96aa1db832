"""Network families: GA-Net and (later) the Table 1 baselines."""

from ganet_jax.models.ganet import BOTTLENECKS, CBAM_POSITIONS, BottleneckConfig, GANet
