"""MAC counts of layers whose arithmetic is known by hand."""

import flax.linen as nn
import pytest

from ganet_jax.models.complexity import model_complexity
from ganet_jax.nn.layers import DepthwiseConv1D, PointwiseConv


def test_conv_macs_are_output_size_times_taps_times_input_channels():
  counts = model_complexity(nn.Conv(8, (3,)), (2, 100, 4), call_kwargs={})
  assert counts['macs'] == 2 * 100 * 8 * (3 * 4)
  assert counts['parameters'] == 3 * 4 * 8 + 8
  # XLA counts a multiply and an add per MAC, plus the bias additions
  assert counts['xla_flops'] >= 2 * counts['macs']


@pytest.mark.parametrize('stride', [1, 2])
def test_depthwise_macs_count_every_tap_once(stride):
  counts = model_complexity(DepthwiseConv1D(5, strides=stride, multiplier=2), (1, 100, 4), call_kwargs={})
  assert counts['macs'] == (100 // stride) * 4 * 2 * 5


def test_grouped_convolution_counts_its_group_size():
  counts = model_complexity(nn.Conv(6, (3,), feature_group_count=3), (1, 10, 6), call_kwargs={})
  assert counts['macs'] == 10 * 6 * 3 * 2


def test_dense_macs():
  counts = model_complexity(PointwiseConv(7), (3, 5, 4), call_kwargs={})
  assert counts['macs'] == 3 * 5 * 4 * 7
