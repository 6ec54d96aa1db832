"""GA-Net written in PyTorch, for the side-by-side throughput benchmark only.

An idiomatic eager port of ``ganet_jax.models.ganet.GANet`` with its default
fields: the same layers, widths and order, channels-first ``(batch, channels,
time)`` as PyTorch convolutions expect, ``nn.Conv1d(groups=channels)`` for the
depthwise convolutions, ``nn.BatchNorm1d`` (eps 1e-3, PyTorch momentum 0.01 =
Keras 0.99), 'same'-length padding ``kernel_size // 2``. The parameter count
equals the JAX model's (the benchmark asserts it). Never imported by the library.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ganet_jax.models.ganet import BOTTLENECKS


def _bn(channels: int) -> nn.BatchNorm1d:
  return nn.BatchNorm1d(channels, eps=1e-3, momentum=0.01)


def _depthwise(channels: int, kernel_size: int, stride: int = 1, multiplier: int = 1) -> nn.Conv1d:
  return nn.Conv1d(channels, channels * multiplier, kernel_size, stride=stride, padding=kernel_size // 2,
                   groups=channels, bias=False)


class GhostModule(nn.Module):
  """Primary 1x1 conv to ceil(features / ratio) maps, cheap depthwise conv for the rest, concatenated."""

  def __init__(self, in_channels: int, features: int, ratio: int = 2, dw_size: int = 3, relu: bool = True):
    super().__init__()
    self.features = features
    intrinsic = math.ceil(features / ratio)
    activation = nn.ReLU(inplace=True) if relu else nn.Identity()
    self.primary_conv = nn.Sequential(nn.Conv1d(in_channels, intrinsic, 1, bias=False), _bn(intrinsic), activation)
    self.cheap_operation = nn.Sequential(_depthwise(intrinsic, dw_size, multiplier=ratio - 1),
                                         _bn(intrinsic * (ratio - 1)), activation)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    intrinsic = self.primary_conv(x)
    ghost = self.cheap_operation(intrinsic)
    return torch.cat([intrinsic, ghost], dim=1)[:, :self.features]


class GhostBottleneck(nn.Module):
  """Expansion ghost module, strided depthwise conv, projection ghost module, shortcut."""

  def __init__(self, in_channels: int, mid: int, out: int, kernel_size: int, stride: int):
    super().__init__()
    self.ghost1 = GhostModule(in_channels, mid, relu=True)
    self.dw = (nn.Sequential(_depthwise(mid, kernel_size, stride), _bn(mid)) if stride > 1 else nn.Identity())
    self.ghost2 = GhostModule(mid, out, relu=False)
    if stride == 1 and in_channels == out:
      self.shortcut = nn.Identity()
    else:
      self.shortcut = nn.Sequential(_depthwise(in_channels, kernel_size, stride), _bn(in_channels),
                                    nn.Conv1d(in_channels, out, 1, bias=False), _bn(out))

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    return self.ghost2(self.dw(self.ghost1(x))) + self.shortcut(x)


class CBAM(nn.Module):
  """Channel attention (shared MLP on average and max pools), then spatial attention (k-tap conv 2 -> 1)."""

  def __init__(self, channels: int, reduction: int = 16, kernel_size: int = 7):
    super().__init__()
    hidden = max(channels // reduction, 1)
    self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels))
    self.spatial = nn.Conv1d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    channel = torch.sigmoid(self.mlp(x.mean(dim=2)) + self.mlp(x.amax(dim=2)))
    x = x * channel.unsqueeze(2)
    pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
    return x * torch.sigmoid(self.spatial(pooled))


class TorchGANet(nn.Module):
  """Default GA-Net: stem, five ghost bottlenecks each followed by CBAM, 1x1 head, CBAM, pool, dropout, dense."""

  def __init__(self, in_channels: int = 3, num_classes: int = 2, stem_features: int = 16,
               head_features: int = 1792, num_bottlenecks: int = 5, dropout_rate: float = 0.2):
    super().__init__()
    layers = [nn.Conv1d(in_channels, stem_features, 3, stride=2, padding=1, bias=False), _bn(stem_features),
              nn.ReLU(inplace=True)]
    channels = stem_features
    for row in BOTTLENECKS[:num_bottlenecks]:
      layers += [GhostBottleneck(channels, row.mid_features, row.out_features, row.kernel_size, row.strides),
                 CBAM(row.out_features)]
      channels = row.out_features
    layers += [nn.Conv1d(channels, head_features, 1, bias=False), _bn(head_features), nn.ReLU(inplace=True),
               CBAM(head_features)]
    self.features = nn.Sequential(*layers)
    self.dropout = nn.Dropout(dropout_rate)
    self.classifier = nn.Linear(head_features, num_classes)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    """Logits for ``x`` of shape (batch, channels, time)."""
    return self.classifier(self.dropout(self.features(x).mean(dim=2)))
