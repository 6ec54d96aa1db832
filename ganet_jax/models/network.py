"""What Table 1's comparison networks share: their layer fields, and the layer factories built from them.

As in flax's ``examples/imagenet`` ResNet, a network builds its convolution and
normalization factories once per call, with its dtypes bound, and passes them down to
its blocks; the blocks hold no dtype fields of their own. ``norm`` is GA-Net's kind of
factory (``ganet_jax.nn.layers``' docstring): ``BatchNorm`` by default, or e.g.
``nn.LayerNorm``, or a partial with other constants.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from ganet_jax.nn.layers import BatchNorm, ModuleFactory, apply_norm

__all__ = ['Layers', 'Network']


class Layers(NamedTuple):
  """One call's layer factories, dtypes bound.

  Attributes:
    conv: makes a convolution, with ``flax.linen.Conv``'s arguments.
    norm: ``norm(x, name=None)``: ``x`` through a new normalization layer (batch statistics
      in training).
    dense: makes a dense layer, with ``flax.linen.Dense``'s arguments.
  """
  conv: ModuleFactory
  norm: Callable[..., jax.Array]
  dense: ModuleFactory


class Network(nn.Module):
  """The fields of a Table 1 network that choose its layers and their dtypes.

  Attributes:
    norm: factory of the normalization layers (``BatchNorm``, flax's with Keras'
      constants, by default, as GA-Net's).
    conv: factory of the convolutions (``flax.linen.Conv`` by default).
    dtype, param_dtype: computation and parameter dtypes, as in ``flax.linen``.
  """
  norm: ModuleFactory = BatchNorm
  conv: ModuleFactory = nn.Conv
  dtype: Any = None
  param_dtype: Any = jnp.float32

  def layers(self, *, train: bool) -> Layers:
    """The factories of one call (``train``: batch statistics in the normalization layers)."""
    dtypes = {'dtype': self.dtype, 'param_dtype': self.param_dtype}
    return Layers(conv=functools.partial(self.conv, **dtypes),
                  norm=functools.partial(apply_norm, self.norm, train=train, **dtypes),
                  dense=functools.partial(nn.Dense, **dtypes))
